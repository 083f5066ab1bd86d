import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { Env } from "../src/env";
import { squadStub } from "../src/squad/directory";
import type { Squad } from "../src/squad/squad";
import { failingD1 } from "./faulty-d1";
import { api } from "./helpers";
import { abortSquad, createSquad, echoAgent, getTask, policy, register, submit, waitTask } from "./squad-helpers";

/** The run of `agent` (one per test) once it is in D1, through the public API. */
async function recordOf(agent: string, limitMs = 10_000) {
  return vi.waitFor(
    async () => {
      const list = await api("GET", `/api/v1/runs?agent=${agent}&limit=10`);
      const [first] = list.json.items as { id: string }[];
      if (!first) throw new Error(`no run of ${agent} yet`);
      const one = await api("GET", `/api/v1/runs/${first.id}`);
      expect(one.status).toBe(200);
      return one.json;
    },
    { timeout: limitMs, interval: 25 },
  );
}

/** Replaces bindings inside the squad's live instance: its own env (the outbox flush) and its member runs' env. */
async function swapBindings(squad: string, bindings: Partial<Env>) {
  await runInDurableObject(squadStub(env, squad), (instance: Squad) => {
    const inside = instance as unknown as { env: Env; dispatcher: { runEnv: Env } };
    inside.env = { ...inside.env, ...bindings };
    inside.dispatcher.runEnv = { ...inside.dispatcher.runEnv, ...bindings };
  });
}

const held = (squad: string) => runInDurableObject(squadStub(env, squad), (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM run_outbox").one().n);

describe("squad member run records are written behind the task's answer", () => {
  it("a task's member run shows up in GET /api/v1/runs/{id}, with the task as its session", async () => {
    await register(echoAgent("rec-echo"));
    const squad = await createSquad({ members: [{ agent: "rec-echo" }], policy: policy() });
    const taskId = await submit(squad, { capability: "echo", input: { n: 1 } });
    expect(await waitTask(squad, taskId)).toMatchObject({ status: "completed", output: { n: 1 } });
    const run = await recordOf("rec-echo");
    expect(run).toMatchObject({ agent: "rec-echo", status: "succeeded", output: { n: 1 }, sessionId: taskId, source: `squad:${squad}` });
    await vi.waitFor(async () => expect(await held(squad)).toBe(0));
  });

  it("D1 refusing the record does not fail the task: the record waits in the RunBuffer and lands after", async () => {
    await register(echoAgent("rec-outage"));
    const squad = await createSquad({ members: [{ agent: "rec-outage" }], policy: policy() });
    const faulty = failingD1(env.DB, /INSERT OR IGNORE INTO runs /, 1);
    await swapBindings(squad, { DB: faulty.db });
    const taskId = await submit(squad, { capability: "echo", input: "through an outage" });
    // Written before the answer, the failed insert would have failed the attempt (and, with retries 0, the task).
    expect(await waitTask(squad, taskId)).toMatchObject({ status: "completed", attempts: 1, output: "through an outage" });
    expect(await recordOf("rec-outage")).toMatchObject({ sessionId: taskId, status: "succeeded" });
    expect(faulty.failed).toHaveLength(1);
  });

  it("a record neither D1 nor the RunBuffer takes stays in the squad's storage and is sent by the next instance", async () => {
    await register(echoAgent("rec-held"));
    const squad = await createSquad({ members: [{ agent: "rec-held" }], policy: policy() });
    const refusing = { getByName: () => ({ hold: async () => Promise.reject(new Error("injected: RunBuffer unavailable")) }) };
    await swapBindings(squad, { DB: failingD1(env.DB, /INSERT OR IGNORE INTO runs /, 1000).db, RUN_BUFFER: refusing as unknown as Env["RUN_BUFFER"] });
    const taskId = await submit(squad, { capability: "echo", input: 7 });
    expect(await waitTask(squad, taskId)).toMatchObject({ status: "completed", output: 7 });
    await vi.waitFor(async () => expect(await held(squad)).toBe(1));
    expect((await api("GET", "/api/v1/runs?agent=rec-held")).json.items).toEqual([]);
    // The instance dies with the record unsent; the next one (real bindings) finds it in storage and sends it.
    await abortSquad(squad);
    expect((await getTask(squad, taskId)).status).toBe("completed");
    expect(await recordOf("rec-held")).toMatchObject({ sessionId: taskId, output: 7 });
    await vi.waitFor(async () => expect(await held(squad)).toBe(0));
  });
});
