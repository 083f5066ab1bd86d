import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Env } from "../src/env";
import main from "../src/index";

// The worker's own handlers, called the way the runtime calls them.
const worker = { scheduled: main.scheduled as NonNullable<ExportedHandler<Env>["scheduled"]>, queue: main.queue as NonNullable<ExportedHandler<Env>["queue"]> };
import { describe, expect, it } from "vitest";
import { getPolicy } from "../src/evolution/policy-store";
import { cronSlot, resumeStalledRuns, STALL_MS } from "../src/evolution/run";
import { evolutionRuns } from "../src/evolution/schema";
import { findAgent, registryDb } from "../src/registry/store";
import { api } from "./helpers";
import { finishedRun, registerExample, suiteJson } from "./evolution-helpers";

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

describe("runs that lose their messages or their budget", () => {
  /** A queued run written straight to D1 with no message sent: what a crash right after the insert leaves. */
  async function orphanRun(agent: string, budget: { maxEvaluations: number; maxTokens: number }, ageMs: number) {
    const d = registryDb(env.DB);
    const agentRow = await findAgent(d, agent);
    const policy = await getPolicy(d, agentRow.id);
    const now = Date.now();
    const id = `evr_orphan_${agent}`;
    await d.insert(evolutionRuns).values({
      id,
      agentId: agentRow.id,
      slot: `manual:${id}`,
      trigger: "manual",
      status: "queued",
      seed: 7,
      generation: 0,
      generations: policy!.policy.generationsPerRun,
      baseVersion: "1.0.0",
      suiteId: policy!.suiteId,
      policy: { ...policy!.policy, budget },
      createdAt: now - ageMs,
      createdBy: "test",
      updatedAt: now - ageMs,
    });
    return id;
  }

  it("the cron re-drives a run whose message was lost, once it has been quiet long enough", async () => {
    await registerExample("orphaned", { population: 2, generationsPerRun: 1 });
    const fresh = await orphanRun("orphaned", { maxEvaluations: 20_000, maxTokens: 0 }, 60_000);
    expect(await resumeStalledRuns(env)).toBe(0); // quiet for a minute: not stalled yet
    expect((await api("GET", `/api/v1/evolution/runs/${fresh}`)).json.status).toBe("queued");
    expect(await resumeStalledRuns(env, Date.now() + STALL_MS)).toBe(1);
    expect((await finishedRun(fresh)).status).toBe("completed");
  });

  it("enforces the budget while the run goes: candidates that do not fit are dropped, not evaluated", async () => {
    await registerExample("frugal", { population: 4, generationsPerRun: 1 });
    const cases = suiteJson.cases.length;
    const id = await orphanRun("frugal", { maxEvaluations: 2 * cases, maxTokens: 200_000 }, STALL_MS + 1000);
    expect(await resumeStalledRuns(env)).toBe(1);
    const run = await finishedRun(id);
    expect(run.budget.evaluationsUsed).toBe(2 * cases);
    const dropped = run.candidates.filter((c: any) => c.status === "dropped");
    expect(dropped.length).toBe(2);
    for (const c of dropped) expect(c.reason).toBe("budget exhausted (evaluations or tokens); not evaluated");
    expect(run.candidates.filter((c: any) => c.status === "evaluated").length).toBe(2);
  });
});
