import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { keyRing, open } from "../src/messaging/envelope";
import { sealDraft } from "../src/messaging/producer";
import { continueTrace } from "../src/observability/context";
import { finishedRun, registerExample } from "./evolution-helpers";
import { api, codeSpec } from "./helpers";
import { waitFor as until } from "./messaging-helpers";
import { createSquad, echoAgent, policy, register, waitFor } from "./squad-helpers";

/** A fresh W3C trace per test, sent as traceparent; everything the request causes must carry its trace id. */
const newTrace = () => crypto.randomUUID().replaceAll("-", "");
const traceparent = (traceId: string) => ({ traceparent: `00-${traceId}-00f067aa0ba902b7-01` });

const runsOfTrace = async (traceId: string) => (await api("GET", `/api/v1/runs?traceId=${traceId}&limit=100`)).json.items as { traceId: string; source: string; agent: string }[];
const runsArrive = (traceId: string, n: number) =>
  until(async () => ((await runsOfTrace(traceId)).length >= n ? runsOfTrace(traceId) : false), 20_000, `${n} runs of trace ${traceId}`);

describe("squad tasks and workflow runs carry the trace of the request that caused them", () => {
  it("a task keeps the submitting request's traceId, and its agent run carries it", async () => {
    await register(echoAgent("trace-echo"));
    const squad = await createSquad({ members: [{ agent: "trace-echo" }], policy: policy() });
    const traceId = newTrace();
    const submitted = await api("POST", `/api/v1/squads/${squad}/tasks`, { body: { capability: "echo", input: "hi" }, headers: traceparent(traceId) });
    expect(submitted.status, submitted.text).toBe(202);
    const task = await waitFor(
      async () => (await api("GET", `/api/v1/squads/${squad}/tasks/${submitted.json.taskId}`)).json,
      (t) => t.status === "completed",
    );
    expect(task.traceId).toBe(traceId);
    const [run] = await runsArrive(traceId, 1);
    expect(run).toMatchObject({ traceId, source: `squad:${squad}` });
    // The task.queued event says which trace it belongs to, so a stream client can follow it.
    const events = (await api("GET", `/api/v1/squads/${squad}/events?since=0`)).json.items as { type: string; data: { taskId: string; traceId?: string } }[];
    expect(events.find((e) => e.type === "task.queued" && e.data.taskId === task.taskId)?.data.traceId).toBe(traceId);
    // A task submitted without a traceparent gets the trace the API started for its request, not someone else's.
    const other = await api("POST", `/api/v1/squads/${squad}/tasks`, { body: { capability: "echo", input: "again" } });
    const otherTask = (await api("GET", `/api/v1/squads/${squad}/tasks/${other.json.taskId}`)).json;
    expect(otherTask.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(otherTask.traceId).not.toBe(traceId);
  });

  it("a workflow run and every step's task and agent run carry the starting request's traceId", async () => {
    await register(echoAgent("trace-wf"));
    const squad = await createSquad({ members: [{ agent: "trace-wf" }], policy: policy() });
    const wf = {
      name: "trace-chain",
      steps: [
        { id: "a", capability: "echo", input: "{{input}}" },
        { id: "b", capability: "echo", dependsOn: ["a"], input: "{{steps.a.output}}" },
      ],
    };
    expect((await api("POST", "/api/v1/workflows", { body: wf })).status).toBe(201);
    const traceId = newTrace();
    const started = await api("POST", `/api/v1/squads/${squad}/runs`, { body: { workflow: "trace-chain", input: "x" }, headers: traceparent(traceId) });
    expect(started.status, started.text).toBe(202);
    const run = await waitFor(
      async () => (await api("GET", `/api/v1/squads/${squad}/runs/${started.json.runId}`)).json,
      (r) => r.status !== "running",
    );
    expect(run).toMatchObject({ status: "completed", traceId });
    for (const step of run.steps) expect((await api("GET", `/api/v1/squads/${squad}/tasks/${step.taskId}`)).json.traceId).toBe(traceId);
    expect((await api("GET", `/api/v1/squads/${squad}/runs?limit=5`)).json.items[0].traceId).toBe(traceId);
    expect(await runsArrive(traceId, 2)).toHaveLength(2);
  });
});

describe("messages carry the trace of their sender", () => {
  it("the envelope names the trace (authenticated with its metadata); its effect runs in that trace", async () => {
    expect((await api("POST", "/api/v1/agents", { body: codeSpec("trace-msg") })).status).toBe(201);
    const traceId = newTrace();
    const sent = await api("POST", "/api/v1/messages", { body: { to: { agent: "trace-msg" }, payload: 1 }, headers: traceparent(traceId) });
    expect(sent.status, sent.text).toBe(202);
    const [run] = await runsArrive(traceId, 1);
    expect(run).toMatchObject({ traceId, source: "queue", agent: "trace-msg" });

    // A message to a squad becomes a task in the same trace.
    await register(echoAgent("trace-msg-squad"));
    const squad = await createSquad({ members: [{ agent: "trace-msg-squad" }], policy: policy() });
    const squadTrace = newTrace();
    expect((await api("POST", "/api/v1/messages", { body: { to: { squad }, payload: { capability: "echo", input: 2 } }, headers: traceparent(squadTrace) })).status).toBe(202);
    expect((await runsArrive(squadTrace, 1))[0]).toMatchObject({ traceId: squadTrace, source: `squad:${squad}` });
    const tasks = (await api("GET", `/api/v1/squads/${squad}/tasks`)).json.items;
    expect(tasks.map((t: { traceId: string }) => t.traceId)).toEqual([squadTrace]);
  });

  it("a dead letter shows the trace it was sent in", async () => {
    const traceId = newTrace();
    // No member offers the capability: the squad refuses the task for good, so it is dead-lettered at once.
    await register(echoAgent("trace-dead"));
    const squad = await createSquad({ members: [{ agent: "trace-dead" }], policy: policy() });
    const sent = await api("POST", "/api/v1/messages", { body: { to: { squad }, payload: { capability: "nobody-offers", input: 1 } }, headers: traceparent(traceId) });
    expect(sent.status, sent.text).toBe(202);
    const letter = await until(
      async () => {
        const res = await api("GET", `/api/v1/dead-letters/${sent.json.id}`);
        return res.status === 200 && res.json;
      },
      20_000,
      "the dead letter",
    );
    expect(letter).toMatchObject({ reason: "rejected", traceId });
    expect(letter.envelope.traceId).toBe(traceId);
    const listed = (await api("GET", "/api/v1/dead-letters?reason=rejected")).json.items.find((d: { id: string }) => d.id === sent.json.id);
    expect(listed.traceId).toBe(traceId);
  });

  it("a changed trace id fails authentication; an envelope without one (sent outside any trace) still opens", async () => {
    const ring = await keyRing(env.MESSAGE_KEYS);
    const traceId = newTrace();
    const sealed = await continueTrace(traceId, () => sealDraft(env, { to: { agent: "x" }, priority: 5, payload: 1, actor: "t" }));
    expect(sealed.traceId).toBe(traceId);
    expect((await open(ring, sealed)).ok).toBe(true);
    expect(await open(ring, { ...sealed, traceId: newTrace() })).toMatchObject({ ok: false, reason: "tampered" });
    expect(await open(ring, { ...sealed, traceId: "not-a-trace" })).toMatchObject({ ok: false, reason: "malformed" });
    const untraced = await sealDraft(env, { to: { agent: "x" }, priority: 5, payload: 1, actor: "t" });
    expect(untraced.traceId).toBeUndefined();
    expect(JSON.stringify(untraced)).not.toContain("traceId");
    expect((await open(ring, untraced)).ok).toBe(true);
  });
});

describe("evolution runs carry the trace of the request that started them", { timeout: 120_000 }, () => {
  it("the run shows its traceId and its candidates' evaluation runs carry it", async () => {
    await registerExample("trace-evo", { population: 2, generationsPerRun: 1, seed: 3 });
    const traceId = newTrace();
    const started = await api("POST", "/api/v1/evolution/runs", { body: { agent: "trace-evo" }, headers: traceparent(traceId) });
    expect(started.status, started.text).toBe(202);
    const run = await finishedRun(started.json.runId);
    expect(run.traceId).toBe(traceId);
    expect(run.candidates.every((c: { traceId: string }) => c.traceId === traceId)).toBe(true);
    expect((await api("GET", "/api/v1/evolution/runs?agent=trace-evo")).json.items[0].traceId).toBe(traceId);
    expect((await api("GET", `/api/v1/evolution/runs?traceId=${traceId}`)).json.items.map((r: { id: string }) => r.id)).toEqual([run.id]);
    expect((await api("GET", "/api/v1/evolution/runs?traceId=NOT-HEX")).status).toBe(422);
    const runs = await runsOfTrace(traceId);
    expect(runs.length).toBeGreaterThan(0);
    expect(runs.every((r) => r.source === "evaluation")).toBe(true);
  });
});
