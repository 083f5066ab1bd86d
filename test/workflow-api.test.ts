import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api } from "./helpers";
import { constAgent, createSquad, echoAgent, events, failingAgent, policy, register, slowAgent, waitFor } from "./squad-helpers";

const yaml = (text: string) => ({ raw: text, headers: { "content-type": "application/yaml" } });

const diamondYaml = `
name: diamond
description: fan out and join
steps:
  - id: start
    capability: echo
    input: { n: "{{input.n}}", label: "run {{input.n}}" }
  - id: left
    capability: echo
    dependsOn: [start]
    input: "{{steps.start.output.n}}"
  - id: right
    agent: echo-b
    dependsOn: [start]
    input: { text: "left of {{steps.start.output.label}}" }
  - id: join
    capability: echo
    dependsOn: [left, right]
    input: { left: "{{steps.left.output}}", right: "{{steps.right.output.text}}" }
`;

beforeAll(async () => {
  await register(echoAgent("echo-a"), echoAgent("echo-b"), failingAgent("broken", ["flaky"]), slowAgent("sloth", 1500), constAgent("yes", true, ["check"]));
});

const getRun = async (squad: string, runId: string) => (await api("GET", `/api/v1/squads/${squad}/runs/${runId}`)).json;
const waitRun = (squad: string, runId: string) =>
  waitFor(
    () => getRun(squad, runId),
    (r) => r.status !== "running",
  );

describe("workflow definitions", () => {
  it("stores YAML and JSON definitions as versions; the same content again changes nothing", async () => {
    const first = await api("POST", "/api/v1/workflows", yaml(diamondYaml));
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ name: "diamond", version: 1, stepCount: 4, levels: [["start"], ["left", "right"], ["join"]] });
    const again = await api("POST", "/api/v1/workflows", { ...yaml(diamondYaml), headers: { "content-type": "text/yaml; charset=utf-8" } });
    expect(again.status).toBe(200);
    expect(again.json.version).toBe(1);
    const asJson = { ...first.json.definition, description: "changed" };
    const second = await api("POST", "/api/v1/workflows", { body: asJson });
    expect(second.status).toBe(201);
    expect(second.json.version).toBe(2);
    expect((await api("GET", "/api/v1/workflows/diamond")).json.version).toBe(2);
    expect((await api("GET", "/api/v1/workflows/diamond?version=1")).json.description).toBe("fan out and join");
    expect((await api("GET", "/api/v1/workflows/diamond/versions")).json.items.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect((await api("GET", "/api/v1/workflows")).json.items.find((w: { name: string }) => w.name === "diamond").version).toBe(2);
    expect((await api("GET", "/api/v1/workflows/nope")).status).toBe(404);
  });

  it("needs squads:run to store and agents:read to read or validate", async () => {
    const key = await api("POST", "/api/v1/keys", { body: { name: "workflow reader", scopes: ["agents:read"] } });
    if (key.status !== 201) return expect.fail(`could not create a key: ${key.status} ${key.text}`);
    const token = key.json.key as string;
    const body = { name: "scoped", steps: [{ id: "a", capability: "echo" }] };
    expect((await api("POST", "/api/v1/workflows/validate", { token, body })).status).toBe(200);
    expect((await api("GET", "/api/v1/workflows", { token })).status).toBe(200);
    expect((await api("POST", "/api/v1/workflows", { token, body })).status).toBe(403);
  });

  it("validates without storing and returns the plan", async () => {
    const res = await api("POST", "/api/v1/workflows/validate", yaml(diamondYaml.replace("name: diamond", "name: never-stored")));
    expect(res.status).toBe(200);
    expect(res.json.levels).toEqual([["start"], ["left", "right"], ["join"]]);
    expect((await api("GET", "/api/v1/workflows/never-stored")).status).toBe(404);
  });

  it("validates a 1,000-step DAG through the API and refuses 1,001", async () => {
    const steps = Array.from({ length: 1000 }, (_, i) => ({ id: `s${i}`, capability: "echo", dependsOn: i === 0 ? [] : [`s${Math.floor((i - 1) / 2)}`] }));
    const res = await api("POST", "/api/v1/workflows/validate", { body: { name: "big", steps } });
    expect(res.status).toBe(200);
    expect(res.json.stepCount).toBe(1000);
    expect(res.json.levels.flat()).toHaveLength(1000);
    expect(res.json.levels[1]).toEqual(["s1", "s2"]);
    const tooMany = await api("POST", "/api/v1/workflows/validate", { body: { name: "big", steps: [...steps, { id: "extra", capability: "echo" }] } });
    expect(tooMany.status).toBe(422);
    expect(tooMany.json).toMatchObject({ type: "/problems/workflow-invalid", errors: [{ path: "steps" }] });
  });

  it("answers problem+json naming the step for cycles, references and bad YAML", async () => {
    const cycle = await api("POST", "/api/v1/workflows", {
      body: {
        name: "loop",
        steps: [
          { id: "a", capability: "echo", dependsOn: ["c"] },
          { id: "b", capability: "echo", dependsOn: ["a"] },
          { id: "c", capability: "echo", dependsOn: ["b"] },
        ],
      },
    });
    expect(cycle.status).toBe(422);
    expect(cycle.headers.get("content-type")).toContain("application/problem+json");
    expect(cycle.json).toMatchObject({ type: "/problems/workflow-invalid", step: "a", cycle: ["a", "b", "c", "a"] });
    expect(cycle.json.cycle).toHaveLength(4);
    const ref = await api("POST", "/api/v1/workflows/validate", {
      body: {
        name: "ref",
        steps: [
          { id: "a", capability: "echo" },
          { id: "b", capability: "echo", input: "{{steps.a.output}}" },
        ],
      },
    });
    expect(ref.json).toMatchObject({ status: 422, step: "b", errors: [{ path: "steps.1.input" }] });
    const badYaml = await api("POST", "/api/v1/workflows", yaml("name: x\nsteps: [ {id: a"));
    expect(badYaml.status).toBe(400);
    expect(badYaml.json.type).toBe("/problems/malformed-yaml");
    const badField = await api("POST", "/api/v1/workflows", yaml("name: x\nsteps:\n  - id: a\n    capability: echo\n    onError: explode\n"));
    expect(badField.status).toBe(422);
    expect(badField.json.errors[0].path).toBe("steps.0.onError");
    const xml = await api("POST", "/api/v1/workflows", { raw: "<steps/>", headers: { "content-type": "application/xml" } });
    expect(xml.status).toBe(415);
    expect((await api("GET", "/api/v1/workflows/loop")).status).toBe(404);
  });
});

describe("workflow runs", () => {
  it("runs a diamond: levels in parallel, templates typed or interpolated, per-step status, attempts and timings", async () => {
    await api("POST", "/api/v1/workflows", yaml(diamondYaml));
    const squad = await createSquad({ members: [{ agent: "echo-a" }, { agent: "echo-b" }], policy: policy() });
    const started = await api("POST", `/api/v1/squads/${squad}/runs`, { body: { workflow: "diamond", version: 1, input: { n: 4 } } });
    expect(started.status).toBe(202);
    const run = await waitRun(squad, started.json.runId);
    expect(run).toMatchObject({ status: "completed", workflow: "diamond", version: 1, levels: [["start"], ["left", "right"], ["join"]], error: null });
    const step = (id: string) => run.steps.find((s: { id: string }) => s.id === id);
    expect(step("start").output).toEqual({ n: 4, label: "run 4" });
    expect(step("left").output).toBe(4);
    expect(step("right")).toMatchObject({ member: "echo-b#live", output: { text: "left of run 4" } });
    expect(step("join").output).toEqual({ left: 4, right: "left of run 4" });
    for (const s of run.steps) {
      expect(s).toMatchObject({ status: "completed", attempts: 1 });
      expect(Date.parse(s.finishedAt)).toBeGreaterThanOrEqual(Date.parse(s.startedAt));
    }
    expect(Date.parse(step("join").startedAt)).toBeGreaterThanOrEqual(Date.parse(step("left").finishedAt));
    const types = (await events(squad)).map((e) => e.type).filter((t) => t.startsWith("run."));
    expect(types[0]).toBe("run.started");
    expect(types[types.length - 1]).toBe("run.completed");
    expect(types.filter((t) => t === "run.step.completed")).toHaveLength(4);
  });

  it("skips on a false when, continues past onError continue, fails the run on onError fail", async () => {
    await api("POST", "/api/v1/workflows", {
      body: {
        name: "branches",
        steps: [
          { id: "gate", capability: "check" },
          { id: "never", capability: "echo", dependsOn: ["gate"], when: "{{input.enabled}}" },
          { id: "after-never", capability: "echo", dependsOn: ["never"] },
          { id: "optional", capability: "flaky", dependsOn: ["gate"], onError: "continue" },
          { id: "last", capability: "echo", dependsOn: ["optional"], input: { gate: "{{steps.gate.output}}", optional: "{{steps.optional.status}}" } },
        ],
      },
    });
    const squad = await createSquad({ members: [{ agent: "echo-a" }, { agent: "broken" }, { agent: "yes" }], policy: policy({ breakerThreshold: 100 }) });
    const { runId } = (await api("POST", `/api/v1/squads/${squad}/runs`, { body: { workflow: "branches", input: { enabled: false } } })).json;
    const run = await waitRun(squad, runId);
    const byId = Object.fromEntries(run.steps.map((s: { id: string }) => [s.id, s]));
    expect(run.status).toBe("completed");
    expect(byId.never).toMatchObject({ status: "skipped", reason: "when condition is false" });
    expect(byId["after-never"]).toMatchObject({ status: "skipped", reason: "upstream step never was skipped" });
    expect(byId.optional).toMatchObject({ status: "failed", error: { code: "agent_failed" } });
    expect(byId.last).toMatchObject({ status: "completed", output: { gate: true, optional: "failed" } });

    await api("POST", "/api/v1/workflows", {
      body: {
        name: "strict",
        steps: [
          { id: "bad", capability: "flaky" },
          { id: "next", capability: "echo", dependsOn: ["bad"] },
        ],
      },
    });
    const failed = await waitRun(squad, (await api("POST", `/api/v1/squads/${squad}/runs`, { body: { workflow: "strict", input: null } })).json.runId);
    expect(failed).toMatchObject({ status: "failed", error: { code: "step_failed" } });
    expect(failed.steps[1]).toMatchObject({ id: "next", status: "skipped" });
  });

  it("runs a consensus step and passes the agreed answer downstream", async () => {
    await register(constAgent("aye-1", "aye", ["ballot"]), constAgent("aye-2", "aye", ["ballot"]));
    await api("POST", "/api/v1/workflows", {
      body: {
        name: "vote",
        steps: [
          { id: "ballot", capability: "ballot", consensus: { n: 2, strategy: "unanimous" } },
          { id: "announce", capability: "echo", dependsOn: ["ballot"], input: "result: {{steps.ballot.output}}" },
        ],
      },
    });
    const squad = await createSquad({ members: [{ agent: "aye-1" }, { agent: "aye-2" }, { agent: "echo-a" }], policy: policy() });
    const run = await waitRun(squad, (await api("POST", `/api/v1/squads/${squad}/runs`, { body: { workflow: "vote", input: null } })).json.runId);
    expect(run.status).toBe("completed");
    expect(run.steps[0]).toMatchObject({ output: "aye", attempts: 2 });
    expect(run.steps[1].output).toBe("result: aye");
    const task = (await api("GET", `/api/v1/squads/${squad}/tasks/${run.steps[0].taskId}`)).json;
    expect(task.consensus).toMatchObject({ n: 2, strategy: "unanimous", agreement: 1 });
  });

  it("refuses a run whose step no member can take, naming the step", async () => {
    await api("POST", "/api/v1/workflows", { body: { name: "needs-slow", steps: [{ id: "s", capability: "slow" }] } });
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy() });
    const res = await api("POST", `/api/v1/squads/${squad}/runs`, { body: { workflow: "needs-slow", input: 1 } });
    expect(res.status).toBe(422);
    expect(res.json.errors[0].path).toBe("workflow.steps.0.capability");
    expect((await api("POST", `/api/v1/squads/${squad}/runs`, { body: { workflow: "missing", input: 1 } })).status).toBe(404);
  });

  it("resumes after the squad object is aborted mid-run without re-running finished steps", async () => {
    await api("POST", "/api/v1/workflows", {
      body: {
        name: "resumable",
        steps: [
          { id: "first", capability: "slow", input: "{{input}}" },
          { id: "second", capability: "echo", dependsOn: ["first"], input: { got: "{{steps.first.output}}" } },
          { id: "last", capability: "echo", dependsOn: ["second"], input: "{{steps.second.output.got}}" },
        ],
      },
    });
    const members = [{ agent: "echo-a" }, { agent: "sloth" }];
    const squad = await createSquad({ members, policy: policy() });
    const { runId } = (await api("POST", `/api/v1/squads/${squad}/runs`, { body: { workflow: "resumable", input: "payload" } })).json;
    // Pause while the first step runs, so the second is queued behind it and nothing is in flight when we abort.
    await waitFor(
      () => getRun(squad, runId),
      (r) => r.steps[0].status === "running" && r.steps[0].startedAt !== null,
    );
    expect((await api("PUT", `/api/v1/squads/${squad}`, { body: { name: "r", members, policy: policy({ paused: true }) } })).status).toBe(200);
    const paused = await waitFor(
      () => getRun(squad, runId),
      (r) => r.steps[1].status === "running",
    );
    expect(paused.steps[0]).toMatchObject({ status: "completed", attempts: 1 });
    // The object dies in the middle of the second step's attempt: its row says running, attempt 1 begun.
    const stub = env.SQUADS.get(env.SQUADS.idFromName(squad));
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE tasks SET status = 'running', attempts = 1, started_at = ?, epoch = epoch + 1 WHERE id = ?", Date.now(), paused.steps[1].taskId);
    });
    await abortAllDurableObjects();
    // The next start of the object re-queues the interrupted attempt; unpausing lets it run.
    expect((await api("PUT", `/api/v1/squads/${squad}`, { body: { name: "r", members, policy: policy() } })).status).toBe(200);
    const run = await waitRun(squad, runId);
    expect(run.status).toBe("completed");
    expect(run.steps.map((s: { attempts: number }) => s.attempts)).toEqual([1, 2, 1]);
    expect(run.steps[2].output).toBe("payload");
    const evs = await events(squad);
    expect(evs.filter((e) => e.type === "task.started" && e.data.stepId === "first")).toHaveLength(1);
    expect(evs.filter((e) => e.type === "run.step.completed" && e.data.stepId === "first")).toHaveLength(1);
    expect(evs.find((e) => e.type === "task.retried")?.data).toMatchObject({ taskId: paused.steps[1].taskId, reason: "interrupted", failover: false });
    // seq stayed gapless across the restart
    expect(evs.map((e) => e.seq)).toEqual(evs.map((_, i) => i + 1));
  });
});
