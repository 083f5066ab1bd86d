import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Env } from "../src/env";
import main from "../src/index";

// The worker's own handlers, called the way the runtime calls them.
const worker = { scheduled: main.scheduled as NonNullable<ExportedHandler<Env>["scheduled"]>, queue: main.queue as NonNullable<ExportedHandler<Env>["queue"]> };
import { describe, expect, it } from "vitest";
import { cronSlot } from "../src/evolution/run";
import { api } from "./helpers";
import { finishedRun, registerExample } from "./evolution-helpers";

const runsOf = async (agent: string) => (await api("GET", `/api/v1/evolution/runs?agent=${agent}`)).json.items as any[];

describe("evolution cron", () => {
  it("starts one run per evolvable agent per slot, however often the slot fires", async () => {
    await registerExample("cron-a", { population: 2, generationsPerRun: 1 });
    await registerExample("cron-b", { population: 2, generationsPerRun: 1 });
    await registerExample("cron-off", { population: 2, generationsPerRun: 1, enabled: false });
    const scheduledTime = Date.UTC(2026, 10, 25, 15, 30);
    const tick = (time: number) => worker.scheduled(createScheduledController({ scheduledTime: time, cron: "*/30 * * * *" }), env, createExecutionContext());

    // The same tick delivered twice in a row and twice at once.
    await tick(scheduledTime);
    await tick(scheduledTime);
    await Promise.all([tick(scheduledTime), tick(scheduledTime)]);

    for (const agent of ["cron-a", "cron-b"]) {
      const runs = await runsOf(agent);
      expect(runs.length, agent).toBe(1);
      expect(runs[0]).toMatchObject({ trigger: "cron", slot: cronSlot(scheduledTime) });
      expect((await finishedRun(runs[0].id)).status).toBe("completed");
    }
    expect(await runsOf("cron-off")).toEqual([]);

    // The next slot starts the next run.
    await tick(scheduledTime + 30 * 60_000);
    const next = await runsOf("cron-a");
    expect(next.length).toBe(2);
    await finishedRun(next[0].id);
  });

  it("consumes redelivered and malformed queue messages without doubling work", async () => {
    const { agentId } = await registerExample("redelivery", { population: 2, generationsPerRun: 1 });
    const started = await api("POST", "/api/v1/evolution/runs", { body: { agent: "redelivery" } });
    const run = await finishedRun(started.json.runId);
    const used = run.budget.evaluationsUsed;
    // Every message of the run delivered again, plus one that is not ours: all acked, nothing re-evaluated.
    const batch = createMessageBatch("tdev-evolution", [
      { id: "m1", timestamp: new Date(), attempts: 2, body: { type: "generation", v: 1, runId: run.id, generation: 0 } },
      ...run.candidates.map((c: any, i: number) => ({ id: `c${i}`, timestamp: new Date(), attempts: 2, body: { type: "candidate", v: 1, runId: run.id, candidateId: c.id } })),
      { id: "junk", timestamp: new Date(), attempts: 1, body: { hello: "world" } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.length).toBe(batch.messages.length);
    expect(result.retryMessages).toEqual([]);
    const after = (await api("GET", `/api/v1/evolution/runs/${run.id}`)).json;
    expect(after.budget.evaluationsUsed).toBe(used);
    expect(after.candidates).toEqual(run.candidates);
    expect(after.generationStats).toEqual(run.generationStats);
    const rows = await env.DB.prepare("select count(*) as n from evolution_runs where agent_id = ?").bind(agentId).first<{ n: number }>();
    expect(rows?.n).toBe(1);
  });
});
