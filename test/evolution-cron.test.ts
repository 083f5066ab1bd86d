import { createExecutionContext, createMessageBatch, createScheduledController, getQueueResult, introspectWorkflowInstance } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Env } from "../src/env";
import main from "../src/index";

// The worker's own handlers, called the way the runtime calls them.
const worker = { scheduled: main.scheduled as NonNullable<ExportedHandler<Env>["scheduled"]>, queue: main.queue as NonNullable<ExportedHandler<Env>["queue"]> };
import { describe, expect, it } from "vitest";
import { getPolicy } from "../src/evolution/policy-store";
import { evaluateCandidate } from "../src/evolution/evaluate-candidate";
import { cronSlot, runIdFor, startRun } from "../src/evolution/run";
import { evolutionRuns } from "../src/evolution/schema";
import { completeGeneration } from "../src/evolution/select";
import { registryDb } from "../src/registry/store";
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

  it("answers every step of a finished run again without doubling work, and acks malformed queue messages", async () => {
    const { agentId } = await registerExample("redelivery", { population: 2, generationsPerRun: 1 });
    const started = await api("POST", "/api/v1/evolution/runs", { body: { agent: "redelivery" } });
    const run = await finishedRun(started.json.runId);
    // Every step body again, as a platform retry after a lost checkpoint would run it: nothing changes.
    for (const c of run.candidates) await evaluateCandidate(env, run.id, c.id);
    await completeGeneration(env, run.id, 0);
    const after = (await api("GET", `/api/v1/evolution/runs/${run.id}`)).json;
    expect(after.budget.evaluationsUsed).toBe(run.budget.evaluationsUsed);
    expect(after.candidates).toEqual(run.candidates);
    expect(after.generationStats).toEqual(run.generationStats);
    const rows = await env.DB.prepare("select count(*) as n from evolution_runs where agent_id = ?").bind(agentId).first<{ n: number }>();
    expect(rows?.n).toBe(1);
    // The evolution queue now only carries long evaluations: anything else is acked and dropped.
    const batch = createMessageBatch("tdev-evolution", [
      { id: "old", timestamp: new Date(), attempts: 2, body: { type: "generation", v: 1, runId: run.id, generation: 0 } },
      { id: "junk", timestamp: new Date(), attempts: 1, body: { hello: "world" } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.length).toBe(batch.messages.length);
  });
});

describe("runs as Workflow instances", () => {
  it("a start that died between its row and its instance is completed by the next start of the same slot", async () => {
    const { agentId } = await registerExample("half-started", { population: 2, generationsPerRun: 1 });
    const slot = "cron:2026-11-25T16:00:00.000Z";
    const id = await runIdFor(agentId, slot);
    const d = registryDb(env.DB);
    const policy = (await getPolicy(d, agentId))!;
    const now = Date.now();
    // What a crash right after the insert leaves: a queued row and no instance.
    await d.insert(evolutionRuns).values({
      id,
      agentId,
      slot,
      trigger: "cron",
      status: "queued",
      seed: 7,
      generation: 0,
      generations: 1,
      baseVersion: "1.0.0",
      suiteId: policy.suiteId,
      policy: policy.policy,
      createdAt: now,
      createdBy: "test",
      updatedAt: now,
    });
    await expect(env.EVOLUTION_RUNS.get(id)).rejects.toThrow();
    const again = await startRun(env, agentId, { trigger: "cron", slot, actor: "cron" });
    expect(again).toEqual({ runId: id, created: false });
    expect((await finishedRun(id)).status).toBe("completed");
    expect((await startRun(env, agentId, { trigger: "cron", slot, actor: "cron" })).runId).toBe(id);
    expect((await runsOf("half-started")).length).toBe(1);
  });

  it("a step that fails is retried by the platform and the run completes once; one that keeps failing ends the run failed", async () => {
    const { agentId } = await registerExample("flaky", { population: 2, generationsPerRun: 1 });
    /** A manual run whose selection step fails `times` times before the platform's retries succeed (or run out). */
    const runFailingSelect = async (slot: string, error: string, times: number) => {
      const id = await runIdFor(agentId, slot);
      await using instance = await introspectWorkflowInstance(env.EVOLUTION_RUNS, id);
      await instance.modify(async (m) => {
        await m.disableRetryDelays();
        await m.mockStepError({ name: "g0:select" }, new Error(error), times);
      });
      await startRun(env, agentId, { trigger: "manual", slot, actor: "test" });
      await instance.waitForStatus("complete");
      return id;
    };
    const run = await finishedRun(await runFailingSelect("test:retried", "D1 went away", 2));
    expect(run.status).toBe("completed");
    expect(run.generationStats.length).toBe(1);

    const broken = await runFailingSelect("test:broken", "D1 went away for good", 10);
    const failed = await finishedRun(broken);
    expect(failed.status).toBe("failed");
    expect(failed.error).toContain("D1 went away for good");
  });

  it("enforces the budget while the run goes: candidates that do not fit are dropped, not evaluated", async () => {
    const { agentId } = await registerExample("frugal", { population: 4, generationsPerRun: 1, screening: false });
    const cases = suiteJson.cases.length;
    const d = registryDb(env.DB);
    const policy = (await getPolicy(d, agentId))!;
    // A budget the policy could not be saved with (the start refuses it), as a policy edited mid-run would leave.
    const runId = await runIdFor(agentId, "test:frugal");
    const now = Date.now();
    const budget = { maxEvaluations: 2 * cases, maxTokens: 200_000 };
    await d.insert(evolutionRuns).values({
      id: runId,
      agentId,
      slot: "test:frugal",
      trigger: "manual",
      status: "queued",
      seed: 7,
      generation: 0,
      generations: 1,
      baseVersion: "1.0.0",
      suiteId: policy.suiteId,
      policy: { ...policy.policy, budget },
      createdAt: now,
      createdBy: "test",
      updatedAt: now,
    });
    await env.EVOLUTION_RUNS.create({ id: runId, params: { runId } });
    const run = await finishedRun(runId);
    expect(run.budget.evaluationsUsed).toBe(2 * cases);
    const dropped = run.candidates.filter((c: any) => c.status === "dropped");
    expect(dropped.length).toBe(2);
    for (const c of dropped) expect(c.reason).toBe("budget exhausted (evaluations or tokens); not evaluated");
    expect(run.candidates.filter((c: any) => c.status === "evaluated").length).toBe(2);
  });
});
