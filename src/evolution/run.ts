import { and, count, eq, inArray } from "drizzle-orm";
import type { Env } from "../env";
import { AppError } from "../errors";
import { suiteOf, suiteForAgent } from "../evaluation/suite-store";
import type { Suite } from "../evaluation/suite";
import { fnv1a } from "../evaluation/split";
import { currentTraceId } from "../observability/context";
import { sha256Hex } from "../registry/canonical";
import { agentChannels, findAgent, registryDb, type Db } from "../registry/store";
import { plannedEvaluations } from "./policy";
import { requirePolicy } from "./policy-store";
import { evolutionPolicies, evolutionRuns, type EvolutionRunRow } from "./schema";

/** Topic for evolution events on the event bus. */
export const EVOLUTION_TOPIC = "evolution";

export interface EvolutionRunParams {
  runId: string;
  /** The trace the run's steps continue (candidate evaluations, rewrites, the gate). */
  traceId?: string;
}

export async function getRun(d: Db, runId: string): Promise<EvolutionRunRow> {
  const [run] = await d.select().from(evolutionRuns).where(eq(evolutionRuns.id, runId)).limit(1);
  if (!run) throw new AppError("not_found", `No evolution run ${runId}.`);
  return run;
}

export async function loadSuite(d: Db, run: EvolutionRunRow): Promise<Suite> {
  return suiteOf(await suiteForAgent(d, run.agentId, run.suiteId));
}

/**
 * The run id, and so its Workflow instance id, follows from (agent, slot): a second start for the
 * same slot names the same instance, which the platform creates at most once.
 */
export const runIdFor = async (agentId: string, slot: string) => `evr_${(await sha256Hex(`${agentId}\n${slot}`)).slice(0, 32)}`;

/**
 * Makes sure the run's Workflow instance exists. A new row gets its instance created; for a row
 * that was there already the instance is looked up first and created only when missing (a start
 * that died between the two). A create that loses a race for the id finds the instance.
 */
async function ensureInstance(env: Env, runId: string, fresh: boolean, traceId?: string): Promise<void> {
  if (
    !fresh &&
    (await env.EVOLUTION_RUNS.get(runId).then(
      () => true,
      () => false,
    ))
  )
    return;
  try {
    await env.EVOLUTION_RUNS.create({ id: runId, params: { runId, ...(traceId ? { traceId } : {}) } satisfies EvolutionRunParams });
  } catch (err) {
    if (
      !(await env.EVOLUTION_RUNS.get(runId).then(
        () => true,
        () => false,
      ))
    )
      throw err;
  }
}

/**
 * Starts one run of an agent for a slot: `cron:<scheduled time>` or `manual:<id>`. A second start
 * for the same (agent, slot) returns the first run: the unique index keeps one row, the id one
 * Workflow instance. The budget is checked before anything starts.
 */
export async function startRun(env: Env, agentRef: string, opts: { trigger: "cron" | "manual"; slot?: string; actor: string }): Promise<{ runId: string; created: boolean }> {
  const d = registryDb(env.DB);
  const agent = await findAgent(d, agentRef);
  const policyRow = await requirePolicy(d, agent);
  const policy = policyRow.policy;
  const suite = await suiteForAgent(d, agent.id, policyRow.suiteId);
  const planned = plannedEvaluations(policy, suite.caseCount);
  if (planned > policy.budget.maxEvaluations) {
    throw new AppError("budget_exceeded", `A run needs up to ${planned} case runs but the budget allows ${policy.budget.maxEvaluations}.`);
  }
  const now = Date.now();
  const slot = opts.slot ?? `manual:${now.toString(36)}:${crypto.randomUUID()}`;
  const runId = await runIdFor(agent.id, slot);
  const channels = await agentChannels(d, agent.id);
  const [{ previous } = { previous: 0 }] = await d.select({ previous: count() }).from(evolutionRuns).where(eq(evolutionRuns.agentId, agent.id));
  // The run's seed: the policy's (or the agent's) seed and how many runs came before, so run n is reproducible.
  const seed = fnv1a(`${policy.seed ?? fnv1a(agent.id)}:${previous}`);
  const row: EvolutionRunRow = {
    id: runId,
    agentId: agent.id,
    slot,
    trigger: opts.trigger,
    status: "queued",
    seed,
    generation: 0,
    generations: policy.generationsPerRun,
    baseVersion: channels.live ?? agent.latestVersion,
    suiteId: suite.id,
    policy,
    evaluationsUsed: 0,
    tokensUsed: 0,
    outcome: null,
    error: null,
    createdAt: now,
    createdBy: opts.actor,
    updatedAt: now,
    finishedAt: null,
    searchState: null,
    screenedOut: 0,
    evaluationsSaved: 0,
    traceId: currentTraceId() ?? null,
  };
  const inserted = await d.insert(evolutionRuns).values(row).onConflictDoNothing().returning({ id: evolutionRuns.id });
  // A run its Workflow has moved past queued surely has an instance; otherwise make sure of it here,
  // so a start that died between the row and the instance is completed by the next start.
  const fresh = inserted.length > 0;
  if (fresh || (await getRun(d, runId)).status === "queued") await ensureInstance(env, runId, fresh, row.traceId ?? undefined);
  return { runId, created: fresh };
}

/** The cron's slot: one run per agent per scheduled time, however often the trigger fires for it. */
export const cronSlot = (scheduledTime: number) => `cron:${new Date(scheduledTime).toISOString()}`;

/** Starts this slot's run for every agent whose policy is enabled; one agent's failure does not stop the others. */
export async function startScheduledRuns(env: Env, scheduledTime: number): Promise<{ started: string[]; skipped: { agentId: string; reason: string }[] }> {
  const d = registryDb(env.DB);
  const policies = await d.select().from(evolutionPolicies).where(eq(evolutionPolicies.enabled, true));
  const started: string[] = [];
  const skipped: { agentId: string; reason: string }[] = [];
  for (const p of policies) {
    try {
      const { runId, created } = await startRun(env, p.agentId, { trigger: "cron", slot: cronSlot(scheduledTime), actor: "cron" });
      if (created) started.push(runId);
      else skipped.push({ agentId: p.agentId, reason: `slot already has run ${runId}` });
    } catch (err) {
      skipped.push({ agentId: p.agentId, reason: (err as Error).message });
    }
  }
  return { started, skipped };
}

/** Marks a run that the platform gave up on (a step out of retries) failed, with the error. */
export async function markFailed(d: Db, runId: string, error: string): Promise<boolean> {
  const now = Date.now();
  const failed = await d
    .update(evolutionRuns)
    .set({ status: "failed", error: error.slice(0, 500), finishedAt: now, updatedAt: now })
    .where(and(eq(evolutionRuns.id, runId), inArray(evolutionRuns.status, ["queued", "running", "finishing"])))
    .returning({ id: evolutionRuns.id });
  return failed.length > 0;
}
