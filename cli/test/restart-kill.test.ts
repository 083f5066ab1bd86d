// Kill -9 in the middle of work (issue 14, item 5): wrangler dev's whole process group dies while a squad workflow
// run and an evolution run are under way, then wrangler dev starts again on the same --persist-to state.
// What this shows about the local system (the README's "Local dev and crashes" paragraph says the same):
// - the squad workflow run resumes (its state is in the Durable Object's storage) and finishes, each step once;
// - the evolution run does not: the local Workflows engine keeps no wake-up for a running step, so its instance
//   stays "running" after a restart (on Cloudflare the engine resumes it from its last checkpointed step);
// - a message accepted by a local queue but not yet handed to the consumer is lost with the process (local queues
//   live in memory; on Cloudflare a message is durable once send() resolves).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, startSystem, type System } from "./system";

let system: System;
beforeAll(async () => void (system = await startSystem()));
afterAll(() => system?.stop());

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${system.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json().catch(() => undefined)) as any;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Polls `read` until `done` holds (a read that fails, e.g. mid-restart, counts as not yet). */
async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, ms = 40_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    last = await read().catch(() => last);
    if (last !== undefined && done(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const slowCode = (ms: number) => `export default { async run(input) { await new Promise((r) => setTimeout(r, ${ms})); return input; } };`;
// Evolvable: three params, a score that depends on their sum, and a pause per case so a run spans seconds.
const tunedCode =
  "export default { async run(input, ctx) { await new Promise((r) => setTimeout(r, 700)); const p = ctx.params; return { hit: p.a + p.b + p.c >= input.want }; } };";

async function setUp() {
  await call("POST", "/agents", { name: "slow", version: "1.0.0", kind: "code", description: "sleeps, then echoes", capabilities: ["slow"], code: slowCode(2000) });
  // A short task timeout: a task whose attempt died with the process is retried once this lapses.
  const squad = await call("POST", "/squads", { name: "crash", members: [{ agent: "slow" }], policy: { taskTimeoutMs: 4000, retries: 2 } });
  const steps = ["a", "b", "c", "d", "e", "f"].map((id, i, all) => ({ id, capability: "slow", input: "{{input}}", ...(i ? { dependsOn: [all[i - 1]] } : {}) }));
  await call("POST", "/workflows", { name: "chain", steps });
  await call("POST", "/agents", {
    name: "tuned",
    version: "1.0.0",
    kind: "code",
    description: "slow evolvable",
    capabilities: ["tune"],
    params: { a: 0, b: 0, c: 0 },
    code: tunedCode,
  });
  const cases = Array.from({ length: 12 }, (_, i) => ({ id: `c${i}`, input: { want: i }, checks: [{ type: "equals", path: "hit", value: true }] }));
  await call("POST", "/suites", { name: "tuned", agent: "tuned", cases });
  const gene = { min: 0, max: 10, step: 1 };
  await call("PUT", "/agents/tuned/evolution", { suite: "tuned", population: 6, generationsPerRun: 4, genes: { a: gene, b: gene, c: gene }, seed: 7 });
  return squad.id as string;
}

const countBy = (xs: string[]) => xs.reduce<Record<string, number>>((m, x) => ((m[x] = (m[x] ?? 0) + 1), m), {});

describe("kill -9 mid-run, restart on the same state", () => {
  it("the squad workflow run finishes with each step once; the evolution run and an undelivered message do not survive locally", async () => {
    const squad = await setUp();
    const { runId } = await call("POST", `/squads/${squad}/runs`, { workflow: "chain", input: { x: 1 } });
    const { runId: evolutionId } = await call("POST", "/evolution/runs", { agent: "tuned" });

    // Both mid-run: the workflow past its first step, the evolution run with candidates recorded.
    const before = await until(
      "both runs mid-way",
      async () => ({ wf: await call("GET", `/squads/${squad}/runs/${runId}`), evo: await call("GET", `/evolution/runs/${evolutionId}`) }),
      ({ wf, evo }) => wf.steps.some((s: { status: string }) => s.status === "completed") && evo.candidates.length > 0,
    );
    expect(before.wf.status, "the workflow run was killed mid-run").toBe("running");
    expect(before.evo.status, "the evolution run was killed mid-run").toBe("running");
    // Accepted by the low band's local queue, which waits up to 5 s to fill a batch: still only in memory.
    const { id: messageId } = await call("POST", "/messages", { to: { agent: "slow" }, priority: 1, payload: { lost: true } });

    const persist = system.persist;
    await system.kill();
    system = await startSystem({ persist });

    // The workflow run resumes from its Durable Object's storage and finishes.
    const after = await until(
      "the workflow run to finish",
      () => call("GET", `/squads/${squad}/runs/${runId}`),
      (r) => r.status !== "running",
      60_000,
    );
    expect(after.status).toBe("completed");
    expect(after.steps.map((s: { status: string }) => s.status)).toEqual(Array(6).fill("completed"));
    const tasks = (await call("GET", `/squads/${squad}/tasks?limit=100`)).items.filter((t: { runId?: string }) => t.runId === runId);
    expect(tasks.map((t: { stepId?: string; taskId: string }) => t.taskId).sort()).toEqual(after.steps.map((s: { taskId: string }) => s.taskId).sort());
    const events = (await call("GET", `/squads/${squad}/events?since=0&limit=500`)).items.filter((e: { data?: { runId?: string } }) => e.data?.runId === runId);
    const kinds = countBy(events.map((e: { type: string }) => e.type));
    expect(kinds).toMatchObject({ "run.started": 1, "run.step.completed": 6, "run.completed": 1 });
    console.log(`workflow run ${runId} after the restart: ${JSON.stringify(kinds)}; steps' attempts ${after.steps.map((s: { attempts: number }) => s.attempts).join(",")}`);

    // By then the evolution run has not moved: the local Workflows engine never resumes an instance whose step
    // was running when the process died. Nothing it recorded is doubled.
    const evo = await call("GET", `/evolution/runs/${evolutionId}`);
    console.log(
      `evolution run ${evolutionId} after the restart: status ${evo.status}, generation ${evo.generation} (was ${before.evo.generation}), ${evo.candidates.length} candidates`,
    );
    expect(evo).toMatchObject({ status: "running", generation: before.evo.generation });
    expect(evo.candidates.length).toBeGreaterThanOrEqual(before.evo.candidates.length);
    const ids = evo.candidates.map((c: { id: string }) => c.id);
    expect(new Set(ids).size).toBe(ids.length);

    // And the message that was only in the local queue's memory is gone: no run, no dead letter.
    const runs = (await call("GET", "/runs?agent=slow&limit=100")).items as { input?: { lost?: boolean } }[];
    const dead = (await call("GET", "/dead-letters?limit=100")).items as { id: string }[];
    const delivered = runs.some((r) => r.input?.lost);
    console.log(`message ${messageId} sent to the low band just before the kill: ${delivered ? "delivered" : "lost"}`);
    // If a wrangler release persists local queues, this fails: then change the README's paragraph too.
    expect({ delivered, deadLettered: dead.some((d) => d.id === messageId) }).toEqual({ delivered: false, deadLettered: false });
  }, 150_000);
});
