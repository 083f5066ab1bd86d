import { and, asc, count, desc, eq, inArray, isNotNull, lt, ne, or, sql } from "drizzle-orm";
import type { Env } from "../env";
import { AppError } from "../errors";
import { newId } from "../ids";
import { runSuite, summarize } from "../evaluation/evaluate";
import { bedrockJudge, sandboxRunner } from "../evaluation/runner";
import { suiteOf, suiteForAgent } from "../evaluation/store";
import type { Suite } from "../evaluation/suite";
import { fnv1a } from "../evaluation/split";
import { publishEvent } from "../messaging/events";
import { canonicalJson, utf8Length } from "../registry/canonical";
import type { AgentRow } from "../registry/schema";
import { MAX_SPEC_BYTES, agentSpecSchema, type AgentSpec } from "../registry/spec";
import { agentChannels, findAgent, getVersion, registryDb, type Db } from "../registry/store";
import type { ChildPlan, Parent } from "./breed";
import { firstGeneration, generationRng, nextGeneration, select, spreadOf } from "./engine";
import { genomeHash } from "./operators";
import { eliteCountOf, plannedEvaluations } from "./policy";
import { requirePolicy } from "./policy-store";
import { proposeRewrite, rewritesAvailable } from "./rewrite";
import { evolutionCandidates, evolutionGenerations, evolutionPolicies, evolutionRuns, type CandidateCase, type CandidateRow, type EvolutionRunRow } from "./schema";
import type { EvolutionMessage } from "./messages";
import { finishRun } from "./finish";

/** Topic for evolution events on the event bus. */
export const EVOLUTION_TOPIC = "evolution";

/** How long one candidate evaluation may hold its lease before another delivery may take it over. */
const LEASE_MS = 5 * 60_000;

/** A run quiet for this long is resumed by the cron (its last step's message was lost or failed). */
export const STALL_MS = 10 * 60_000;

const db = (env: Env) => registryDb(env.DB);

async function send(env: Env, messages: EvolutionMessage[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 100) await env.EVOLUTION.sendBatch(messages.slice(i, i + 100).map((body) => ({ body })));
}

const touch = (d: Db, runId: string) => d.update(evolutionRuns).set({ updatedAt: Date.now() }).where(eq(evolutionRuns.id, runId));

export async function getRun(d: Db, runId: string): Promise<EvolutionRunRow> {
  const [run] = await d.select().from(evolutionRuns).where(eq(evolutionRuns.id, runId)).limit(1);
  if (!run) throw new AppError("not_found", `No evolution run ${runId}.`);
  return run;
}

/**
 * Starts one run of an agent for a slot: `cron:<scheduled time>` or `manual:<id>`. A second start
 * for the same (agent, slot) returns the first run — the unique index makes it exactly one.
 * The budget is checked before anything is queued.
 */
export async function startRun(env: Env, agentRef: string, opts: { trigger: "cron" | "manual"; slot?: string; actor: string }): Promise<{ runId: string; created: boolean }> {
  const d = db(env);
  const agent = await findAgent(d, agentRef);
  const policyRow = await requirePolicy(d, agent);
  const policy = policyRow.policy;
  const suite = await suiteForAgent(d, agent.id, policyRow.suiteId);
  const planned = plannedEvaluations(policy, suite.caseCount);
  if (planned > policy.budget.maxEvaluations) {
    throw new AppError("budget_exceeded", `A run needs up to ${planned} case runs but the budget allows ${policy.budget.maxEvaluations}.`);
  }
  const channels = await agentChannels(d, agent.id);
  const now = Date.now();
  const runId = newId("evr", now);
  const slot = opts.slot ?? `manual:${runId}`;
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
  };
  const inserted = await d.insert(evolutionRuns).values(row).onConflictDoNothing().returning({ id: evolutionRuns.id });
  if (inserted.length === 0) {
    const [existing] = await d.select({ id: evolutionRuns.id }).from(evolutionRuns).where(and(eq(evolutionRuns.agentId, agent.id), eq(evolutionRuns.slot, slot)));
    return { runId: existing!.id, created: false };
  }
  await send(env, [{ type: "generation", v: 1, runId, generation: 0 }]);
  return { runId, created: true };
}

const parentOf = (c: CandidateRow): Parent => ({ id: c.id, params: (JSON.parse(c.spec) as AgentSpec).params, score: c.trainScore ?? 0, sizeBytes: c.sizeBytes, cost: c.cost ?? 0 });

/** Seeds of generation 0: live, the canary, and the best distinct genomes earlier runs on this suite found. */
async function seedSpecs(d: Db, agent: AgentRow, run: EvolutionRunRow): Promise<{ id: string; spec: AgentSpec; version?: string; score: number; sizeBytes: number }[]> {
  const channels = await agentChannels(d, agent.id);
  // Seeds leave room for at least one child, so generation 0 is exactly `population` candidates.
  const room = run.policy.population - 1;
  const versions = [...new Set([run.baseVersion, channels.canary].filter((v): v is string => !!v))].slice(0, room);
  const seeds: { id: string; spec: AgentSpec; version?: string; score: number; sizeBytes: number }[] = [];
  for (const v of versions) {
    const detail = await getVersion(d, agent, v);
    // A version seed competes in tournaments with its last evaluation score (0 when never scored).
    seeds.push({ id: `version:${v}`, spec: detail.spec, version: v, score: detail.score ?? 0, sizeBytes: detail.sizeBytes });
  }
  const earlier = await d
    .select({ c: evolutionCandidates })
    .from(evolutionCandidates)
    .innerJoin(evolutionRuns, eq(evolutionRuns.id, evolutionCandidates.runId))
    .where(and(eq(evolutionCandidates.agentId, agent.id), eq(evolutionRuns.suiteId, run.suiteId), eq(evolutionCandidates.status, "evaluated"), ne(evolutionCandidates.runId, run.id)))
    .orderBy(desc(evolutionCandidates.trainScore), asc(evolutionCandidates.sizeBytes), asc(evolutionCandidates.id))
    .limit(50);
  const hashes = new Set(await Promise.all(seeds.map((s) => genomeHash(s.spec))));
  for (const { c } of earlier) {
    if (seeds.length >= Math.min(room, versions.length + eliteCountOf(run.policy))) break;
    if (hashes.has(c.genomeHash)) continue;
    hashes.add(c.genomeHash);
    seeds.push({ id: c.id, spec: JSON.parse(c.spec) as AgentSpec, ...(c.version ? { version: c.version } : {}), score: c.trainScore ?? 0, sizeBytes: c.sizeBytes });
  }
  return seeds;
}

/** Plans a generation's candidates (once: the unique slot index makes a re-delivery a no-op) and queues their evaluations. */
export async function runGeneration(env: Env, runId: string, generation: number): Promise<void> {
  const d = db(env);
  const run = await getRun(d, runId);
  if (run.status !== "queued" && run.status !== "running") return;
  if (run.generation !== generation) return;
  if (run.status === "queued") {
    const started = await d.update(evolutionRuns).set({ status: "running", updatedAt: Date.now() }).where(and(eq(evolutionRuns.id, runId), eq(evolutionRuns.status, "queued"))).returning({ id: evolutionRuns.id });
    if (started.length) await publishEvent(env, EVOLUTION_TOPIC, "evolution.run.started", { runId, agentId: run.agentId, baseVersion: run.baseVersion, trigger: run.trigger, seed: run.seed });
  }
  let candidates = await d.select().from(evolutionCandidates).where(and(eq(evolutionCandidates.runId, runId), eq(evolutionCandidates.generation, generation))).orderBy(asc(evolutionCandidates.slotIndex));
  if (candidates.length === 0) {
    await planGeneration(env, d, run, generation);
    candidates = await d.select().from(evolutionCandidates).where(and(eq(evolutionCandidates.runId, runId), eq(evolutionCandidates.generation, generation))).orderBy(asc(evolutionCandidates.slotIndex));
  }
  await touch(d, runId);
  const pending = candidates.filter((c) => c.status === "pending" || c.status === "evaluating");
  if (pending.length) await send(env, pending.map((c) => ({ type: "candidate", v: 1, runId, candidateId: c.id })));
  else await completeGeneration(env, runId, generation);
}

async function planGeneration(env: Env, d: Db, run: EvolutionRunRow, generation: number): Promise<void> {
  const agent = await findAgent(d, run.agentId, { includeRetired: true });
  const rng = generationRng(run.seed, generation);
  const policy = run.policy;
  // Base specs by parent id: children keep everything but params from their first parent.
  const specs = new Map<string, { spec: AgentSpec; version?: string }>();
  let plans: ChildPlan[];
  if (generation === 0) {
    const seeds = await seedSpecs(d, agent, run);
    for (const s of seeds) specs.set(s.id, { spec: s.spec, ...(s.version ? { version: s.version } : {}) });
    plans = firstGeneration(seeds.map((s) => ({ id: s.id, params: s.spec.params, score: s.score, sizeBytes: s.sizeBytes, cost: 0 })), policy, rng);
  } else {
    const [previous] = await d.select().from(evolutionGenerations).where(and(eq(evolutionGenerations.runId, run.id), eq(evolutionGenerations.generation, generation - 1)));
    const survivors = previous ? await d.select().from(evolutionCandidates).where(inArray(evolutionCandidates.id, previous.survivors)) : [];
    survivors.sort((a, b) => previous!.survivors.indexOf(a.id) - previous!.survivors.indexOf(b.id));
    for (const s of survivors) specs.set(s.id, { spec: JSON.parse(s.spec) as AgentSpec });
    plans = nextGeneration(survivors.map(parentOf), policy, rng);
    if (policy.rewrites !== "off" && rewritesAvailable(env) && survivors.length && plans.length > 1) {
      // One slot per generation goes to a model-proposed rewrite of the fittest survivor.
      const best = survivors[0]!;
      const rewrite = await proposeRewrite(env, JSON.parse(best.spec) as AgentSpec, policy.rewrites, policy.rewriteModel).catch(() => undefined);
      if (rewrite) {
        specs.set(`${best.id}#rewrite`, { spec: rewrite.spec });
        plans[plans.length - 1] = { params: rewrite.spec.params, parents: [best.id], operator: policy.rewrites === "code" ? "rewrite:code" : "rewrite:prompt" };
        await d.update(evolutionRuns).set({ tokensUsed: sql`${evolutionRuns.tokensUsed} + ${rewrite.tokens}` }).where(eq(evolutionRuns.id, run.id));
      }
    }
  }
  const now = Date.now();
  const runGenomes = new Map(
    (await d.select({ id: evolutionCandidates.id, genomeHash: evolutionCandidates.genomeHash }).from(evolutionCandidates).where(eq(evolutionCandidates.runId, run.id))).map((c) => [c.genomeHash, c.id]),
  );
  const rows: CandidateRow[] = [];
  // Generation 0 breeds from seed keys (`version:1.0.0`, earlier candidates); lineage names the seed rows instead.
  const seedRowId = new Map<string, string>();
  for (const [slotIndex, plan] of plans.entries()) {
    const baseId = plan.operator.startsWith("rewrite:") ? `${plan.parents[0]}#rewrite` : plan.parents[0]!;
    const base = specs.get(baseId) ?? specs.get(plan.parents[0]!)!;
    const spec: AgentSpec = plan.operator === "seed" ? base.spec : { ...base.spec, params: plan.params };
    const hash = await genomeHash(spec);
    const canonical = canonicalJson(spec);
    const row: CandidateRow = {
      id: newId("cand", now),
      runId: run.id,
      agentId: run.agentId,
      generation,
      slotIndex,
      genomeHash: hash,
      spec: canonical,
      sizeBytes: utf8Length(canonical),
      // Seeds point at the version or earlier candidate they came from; children at their parents.
      parents: plan.operator === "seed" ? [] : plan.parents.map((p) => seedRowId.get(p) ?? p),
      operator: plan.operator,
      sourceVersion: plan.operator === "seed" ? (base.version ?? null) : null,
      status: "pending",
      leaseUntil: null,
      trainScore: null,
      heldOutScore: null,
      score: null,
      cost: null,
      cases: null,
      reusedFrom: null,
      kept: null,
      reason: null,
      gate: null,
      version: null,
      createdAt: now,
      evaluatedAt: null,
    };
    if (plan.operator === "seed") seedRowId.set(plan.parents[0]!, row.id);
    const twin = runGenomes.get(hash);
    if (twin) {
      Object.assign(row, { status: "dropped", kept: false, reason: `duplicate of ${twin} (same content hash); not evaluated again` });
    } else if (row.sizeBytes > Math.min(MAX_SPEC_BYTES, policy.maxSizeBytes)) {
      Object.assign(row, { status: "dropped", kept: false, reason: `spec is ${row.sizeBytes} bytes, over the limit; not evaluated` });
    } else {
      runGenomes.set(hash, row.id);
      const earlier = await evaluatedTwin(d, run, hash);
      if (earlier) {
        // Tried before on this suite: reuse its results instead of evaluating it again.
        Object.assign(row, { status: "evaluated", trainScore: earlier.trainScore, heldOutScore: earlier.heldOutScore, score: earlier.score, cost: earlier.cost, cases: earlier.cases, reusedFrom: earlier.id, evaluatedAt: now, version: earlier.version });
      }
    }
    rows.push(row);
  }
  // One statement per row keeps each well under D1's bound-parameter limit; the batch is atomic.
  const statements = rows.map((r) => d.insert(evolutionCandidates).values(r).onConflictDoNothing());
  if (statements.length) await d.batch(statements as [(typeof statements)[0], ...typeof statements]);
}

async function evaluatedTwin(d: Db, run: EvolutionRunRow, hash: string): Promise<CandidateRow | undefined> {
  const [hit] = await d
    .select({ c: evolutionCandidates })
    .from(evolutionCandidates)
    .innerJoin(evolutionRuns, eq(evolutionRuns.id, evolutionCandidates.runId))
    .where(and(eq(evolutionCandidates.agentId, run.agentId), eq(evolutionCandidates.genomeHash, hash), eq(evolutionCandidates.status, "evaluated"), eq(evolutionRuns.suiteId, run.suiteId), isNotNull(evolutionCandidates.cases)))
    .orderBy(asc(evolutionCandidates.createdAt))
    .limit(1);
  return hit?.c;
}

export async function loadSuite(d: Db, run: EvolutionRunRow): Promise<Suite> {
  return suiteOf(await suiteForAgent(d, run.agentId, run.suiteId));
}

export const compactCases = (results: Awaited<ReturnType<typeof runSuite>>): CandidateCase[] =>
  results.map((r) => {
    const failed = r.checks.find((c) => !c.passed);
    const error = r.error ? `${r.error.code}: ${r.error.detail}` : failed?.detail;
    return { caseId: r.caseId, score: r.score, passed: r.passed, uncertain: r.uncertain, status: r.status, durationMs: Math.round(r.durationMs), tokens: r.tokens, limitViolation: r.limitViolation, ...(error ? { error: error.slice(0, 200) } : {}) };
  });

/**
 * Evaluates one candidate on every case of the suite, under a lease so concurrent deliveries of
 * the same message never evaluate it twice. Returns "retry" when another delivery holds the lease.
 */
export async function evaluateCandidate(env: Env, runId: string, candidateId: string): Promise<"done" | "retry"> {
  const d = db(env);
  const run = await getRun(d, runId);
  const [candidate] = await d.select().from(evolutionCandidates).where(eq(evolutionCandidates.id, candidateId));
  if (!candidate || candidate.runId !== runId) return "done";
  if (run.status !== "running") return "done";
  if (candidate.status === "evaluated" || candidate.status === "dropped") {
    await completeGeneration(env, runId, candidate.generation);
    return "done";
  }
  const now = Date.now();
  const claimed = await d
    .update(evolutionCandidates)
    .set({ status: "evaluating", leaseUntil: now + LEASE_MS })
    .where(and(eq(evolutionCandidates.id, candidateId), or(eq(evolutionCandidates.status, "pending"), and(eq(evolutionCandidates.status, "evaluating"), lt(evolutionCandidates.leaseUntil, now)))))
    .returning({ id: evolutionCandidates.id });
  if (claimed.length === 0) return "retry";
  const suite = await loadSuite(d, run);
  const n = suite.cases.length;
  // Reserve the case runs before spending them: the budget holds even with evaluations in parallel.
  const reserved = await d
    .update(evolutionRuns)
    .set({ evaluationsUsed: sql`${evolutionRuns.evaluationsUsed} + ${n}`, updatedAt: now })
    .where(and(eq(evolutionRuns.id, runId), sql`${evolutionRuns.evaluationsUsed} + ${n} <= ${run.policy.budget.maxEvaluations}`, sql`${evolutionRuns.tokensUsed} <= ${run.policy.budget.maxTokens}`))
    .returning({ id: evolutionRuns.id });
  if (reserved.length === 0) {
    await d
      .update(evolutionCandidates)
      .set({ status: "dropped", kept: false, reason: "budget exhausted (evaluations or tokens); not evaluated", evaluatedAt: Date.now() })
      .where(and(eq(evolutionCandidates.id, candidateId), eq(evolutionCandidates.status, "evaluating")));
    await completeGeneration(env, runId, candidate.generation);
    return "done";
  }
  const spec = agentSpecSchema.parse(JSON.parse(candidate.spec));
  const hasJudges = suite.cases.some((c) => c.checks.some((k) => k.type === "judge"));
  let update: Partial<CandidateRow>;
  let tokens = 0;
  try {
    const results = await runSuite(spec, suite, sandboxRunner(env, { actor: `evolution:${runId}`, agentId: run.agentId }), hasJudges ? { judge: bedrockJudge(env) } : {});
    const summary = summarize(suite, results);
    tokens = summary.tokens;
    update = { status: "evaluated", trainScore: summary.trainScore, heldOutScore: summary.heldOutScore, score: summary.score, cost: tokens / Math.max(1, n), cases: compactCases(results), evaluatedAt: Date.now() };
  } catch (err) {
    update = { status: "dropped", kept: false, reason: `evaluation failed: ${(err as Error).message.slice(0, 300)}`, evaluatedAt: Date.now() };
  }
  await d.batch([
    d.update(evolutionCandidates).set(update).where(and(eq(evolutionCandidates.id, candidateId), eq(evolutionCandidates.status, "evaluating"))),
    d.update(evolutionRuns).set({ tokensUsed: sql`${evolutionRuns.tokensUsed} + ${tokens}`, updatedAt: Date.now() }).where(eq(evolutionRuns.id, runId)),
  ]);
  await completeGeneration(env, runId, candidate.generation);
  return "done";
}

/**
 * When the last candidate of a generation is in: select survivors (elitism + Pareto front) over
 * the survivors carried in and this generation's evaluated children, record kept/dropped reasons
 * and best/median/worst, then move the run on. Whoever advances `generation` first continues;
 * every other caller stops, so a generation completes once however many deliveries race here.
 */
export async function completeGeneration(env: Env, runId: string, generation: number): Promise<void> {
  const d = db(env);
  const [open] = await d
    .select({ n: count() })
    .from(evolutionCandidates)
    .where(and(eq(evolutionCandidates.runId, runId), eq(evolutionCandidates.generation, generation), inArray(evolutionCandidates.status, ["pending", "evaluating"])));
  if ((open?.n ?? 0) > 0) return;
  const run = await getRun(d, runId);
  if (run.status !== "running" || run.generation !== generation) return;
  const current = await d.select().from(evolutionCandidates).where(and(eq(evolutionCandidates.runId, runId), eq(evolutionCandidates.generation, generation)));
  const [previous] = generation > 0 ? await d.select().from(evolutionGenerations).where(and(eq(evolutionGenerations.runId, runId), eq(evolutionGenerations.generation, generation - 1))) : [];
  const carried = previous?.survivors.length ? await d.select().from(evolutionCandidates).where(inArray(evolutionCandidates.id, previous.survivors)) : [];
  const evaluated = current.filter((c) => c.status === "evaluated");
  const population = [...carried, ...evaluated].map((c) => ({ ...parentOf(c), row: c }));
  const { survivors, reasons } = select(population, run.policy);
  const spread = spreadOf(population.map((c) => c.score));
  const now = Date.now();
  const updates = evaluated.map((c) => {
    const r = reasons.get(c.id)!;
    return d.update(evolutionCandidates).set({ kept: r.kept, reason: r.reason }).where(eq(evolutionCandidates.id, c.id));
  });
  await d.batch([
    d.insert(evolutionGenerations).values({ runId, generation, ...spread, evaluated: evaluated.length, survivors: survivors.map((s) => s.id), completedAt: now }).onConflictDoNothing(),
    ...updates,
  ]);
  const advanced = await d
    .update(evolutionRuns)
    .set({ generation: generation + 1, updatedAt: now })
    .where(and(eq(evolutionRuns.id, runId), eq(evolutionRuns.generation, generation), eq(evolutionRuns.status, "running")))
    .returning({ id: evolutionRuns.id });
  if (advanced.length === 0) return;
  await publishEvent(env, EVOLUTION_TOPIC, "evolution.generation.completed", { runId, agentId: run.agentId, generation, ...spread, evaluated: evaluated.length, survivors: survivors.length });
  if (generation + 1 < run.generations) await send(env, [{ type: "generation", v: 1, runId, generation: generation + 1 }]);
  else await finishRun(env, runId);
}

/** Cron safety net: re-drives runs whose last message was lost (every step is idempotent). */
export async function resumeStalledRuns(env: Env, now = Date.now()): Promise<number> {
  const d = db(env);
  const stalled = await d
    .select()
    .from(evolutionRuns)
    .where(and(inArray(evolutionRuns.status, ["queued", "running", "finishing"]), lt(evolutionRuns.updatedAt, now - STALL_MS)))
    .limit(50);
  for (const run of stalled) {
    await touch(d, run.id);
    if (run.status === "finishing" || run.generation >= run.generations) await finishRun(env, run.id, { resume: true });
    else await send(env, [{ type: "generation", v: 1, runId: run.id, generation: run.generation }]);
  }
  return stalled.length;
}

/** The cron's slot: one run per agent per scheduled time, however often the trigger fires for it. */
export const cronSlot = (scheduledTime: number) => `cron:${new Date(scheduledTime).toISOString()}`;

/** Starts this slot's run for every agent whose policy is enabled; one agent's failure does not stop the others. */
export async function startScheduledRuns(env: Env, scheduledTime: number): Promise<{ started: string[]; skipped: { agentId: string; reason: string }[] }> {
  const d = db(env);
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

