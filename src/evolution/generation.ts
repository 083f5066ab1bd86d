import { and, asc, desc, eq, isNotNull, ne, sql } from "drizzle-orm";
import type { Env } from "../env";
import { splitCases } from "../evaluation/split";
import type { Suite } from "../evaluation/suite";
import { publishEvent } from "../messaging/events";
import type { AgentSpec } from "../registry/spec";
import { agentChannels, findAgent, getVersion, registryDb, type Db } from "../registry/store";
import { candidateRow, dropRow, insertRows, runCandidates, settleRow, specOf } from "./candidates";
import { rewriteSlotsOf } from "./policy";
import { pickParent, mergePair, updatePool, type PoolCandidate } from "./pool";
import { generationRng } from "./engine";
import { seededRng } from "./prng";
import { casesWon, reflectiveCases, selectReflectiveCases } from "./reflect";
import { proposeMerge, proposeRewrite, rewritesAvailable } from "./rewrite";
import { EVOLUTION_TOPIC, getRun, loadSuite } from "./run";
import { evolutionCandidates, evolutionRuns, type CandidateRow, type EvolutionRunRow } from "./schema";
import { planChildren } from "./search";
import { initEs, resumeEs } from "./strategy";

/** Training case ids of a suite (held-out ones never reach the search). */
export const trainIdsOf = (suite: Suite) => [...splitCases(suite.cases.map((c) => c.id)).train].sort();

/** An evaluated candidate as the pool sees it: scores on training cases only. */
export function poolCandidate(row: CandidateRow, trainIds: readonly string[]): PoolCandidate {
  const train = new Set(trainIds);
  return {
    id: row.id,
    hash: row.genomeHash,
    params: specOf(row).params,
    sizeBytes: row.sizeBytes,
    cost: row.cost ?? 0,
    trainScore: row.trainScore ?? 0,
    caseScores: Object.fromEntries((row.cases ?? []).filter((c) => train.has(c.caseId) && !c.uncertain).map((c) => [c.caseId, c.score])),
  };
}

/** The run's per-case Pareto pool, rebuilt from every candidate it has evaluated so far. */
export function runPool(rows: readonly CandidateRow[], trainIds: readonly string[]): PoolCandidate[] {
  const evaluated = rows.filter((r) => r.status === "evaluated" && r.cases).sort((a, b) => (a.genomeHash < b.genomeHash ? -1 : a.genomeHash > b.genomeHash ? 1 : 0));
  return updatePool(
    [],
    evaluated.map((r) => poolCandidate(r, trainIds)),
    trainIds,
  );
}

/** Marks the run running and picks up the search state the agent's previous run left (once: a replayed step changes nothing). */
export async function beginRun(env: Env, runId: string): Promise<{ generations: number; population: number; rewriteSlots: number; screening: boolean }> {
  const d = registryDb(env.DB);
  const run = await getRun(d, runId);
  const rewriteSlots = run.policy.rewrites !== "off" && rewritesAvailable(env) ? rewriteSlotsOf(run.policy) : 0;
  const plan = { generations: run.generations, population: run.policy.population, rewriteSlots, screening: run.policy.screening };
  if (run.status !== "queued") return plan;
  const [previous] = await d
    .select({ searchState: evolutionRuns.searchState })
    .from(evolutionRuns)
    .where(and(eq(evolutionRuns.agentId, run.agentId), eq(evolutionRuns.suiteId, run.suiteId), ne(evolutionRuns.id, runId), isNotNull(evolutionRuns.searchState)))
    .orderBy(desc(evolutionRuns.createdAt), desc(evolutionRuns.id))
    .limit(1);
  const agent = await findAgent(d, run.agentId, { includeRetired: true });
  const base = await getVersion(d, agent, run.baseVersion);
  const es = resumeEs(previous?.searchState?.es, run.policy.genes, base.spec.params);
  const started = await d
    .update(evolutionRuns)
    .set({ status: "running", searchState: { es }, updatedAt: Date.now() })
    .where(and(eq(evolutionRuns.id, runId), eq(evolutionRuns.status, "queued")))
    .returning({ id: evolutionRuns.id });
  if (started.length)
    await publishEvent(env, EVOLUTION_TOPIC, "evolution.run.started", { runId, agentId: run.agentId, baseVersion: run.baseVersion, trigger: run.trigger, seed: run.seed });
  return plan;
}

/** Generation 0's seeds: live, the canary, and the best distinct genomes earlier runs on this suite found. Returns the ids to evaluate. */
export async function planSeeds(env: Env, runId: string): Promise<string[]> {
  const d = registryDb(env.DB);
  const run = await getRun(d, runId);
  const existing = (await runCandidates(d, runId)).filter((c) => c.generation === 0 && c.operator === "seed");
  if (existing.length) return existing.filter((c) => c.status === "pending").map((c) => c.id);
  const agent = await findAgent(d, run.agentId, { includeRetired: true });
  const channels = await agentChannels(d, agent.id);
  // Seeds leave room for children: at most half the population.
  const room = Math.max(1, Math.floor(run.policy.population / 2));
  const versions = [...new Set([run.baseVersion, channels.canary].filter((v): v is string => !!v))].slice(0, room);
  const seeds: { spec: AgentSpec; version?: string; from?: string }[] = [];
  for (const v of versions) seeds.push({ spec: (await getVersion(d, agent, v)).spec, version: v });
  const earlier = await d
    .select({ c: evolutionCandidates })
    .from(evolutionCandidates)
    .innerJoin(evolutionRuns, eq(evolutionRuns.id, evolutionCandidates.runId))
    .where(
      and(eq(evolutionCandidates.agentId, agent.id), eq(evolutionRuns.suiteId, run.suiteId), eq(evolutionCandidates.status, "evaluated"), ne(evolutionCandidates.runId, run.id)),
    )
    .orderBy(desc(evolutionCandidates.trainScore), asc(evolutionCandidates.sizeBytes), asc(evolutionCandidates.genomeHash))
    .limit(50);
  const now = Date.now();
  const rows: CandidateRow[] = [];
  const seen = new Map<string, string>();
  for (const [slot, s] of seeds.entries())
    rows.push(
      await settleRow(d, run, await candidateRow(run, { generation: 0, slot }, s.spec, { operator: "seed", parents: [], sourceVersion: s.version ?? null }, now), seen, now),
    );
  for (const { c } of earlier) {
    if (rows.length >= room) break;
    if (seen.has(c.genomeHash)) continue;
    const row = await candidateRow(run, { generation: 0, slot: rows.length }, specOf(c), { operator: "seed", parents: [c.id], sourceVersion: c.version }, now);
    rows.push(await settleRow(d, run, row, seen, now));
  }
  await insertRows(d, rows);
  return rows.filter((r) => r.status === "pending").map((r) => r.id);
}

/** The slot numbers of a generation: seeds first (generation 0), then rewrites, then the numeric search's children. */
export async function generationLayout(d: Db, run: EvolutionRunRow, generation: number, rewriteSlots: number) {
  const seeds = generation === 0 ? (await runCandidates(d, run.id)).filter((c) => c.generation === 0 && c.operator === "seed").length : 0;
  const children = Math.max(0, run.policy.population - seeds);
  const rewrites = Math.min(rewriteSlots, children);
  return { firstRewrite: seeds, rewrites, firstParam: seeds + rewrites, params: children - rewrites };
}

/**
 * One model-proposed child: a reflective rewrite of a parent drawn from the pool by cases led, shown
 * its failing training cases; or, on odd slots when two pool members lead different cases, a merge
 * of the two. The row (kept or dropped with the reason) and the tokens spent land in one batch.
 */
export async function planRewrite(env: Env, runId: string, generation: number, slot: number): Promise<string | null> {
  const d = registryDb(env.DB);
  const run = await getRun(d, runId);
  const rows = await runCandidates(d, runId);
  const mine = rows.find((r) => r.generation === generation && r.slotIndex === slot);
  if (mine) return mine.status === "pending" ? mine.id : null;
  const suite = await loadSuite(d, run);
  const trainIds = trainIdsOf(suite);
  const pool = runPool(rows, trainIds);
  if (!pool.length || run.policy.rewrites === "off") return null;
  const target = run.policy.rewrites;
  const rng = seededRng(`${run.seed}:${generation}:rewrite:${slot}`);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const shown = (row: CandidateRow) => reflectiveCases(suite.cases, row.cases ?? []);
  const pair = slot % 2 === 1 ? mergePair(pool, trainIds, rng) : undefined;
  const now = Date.now();
  const common = { modelId: run.policy.rewriteModel, maxSpecBytes: run.policy.maxSizeBytes, trainIds };
  let row: CandidateRow;
  let tokens = 0;
  if (run.tokensUsed >= run.policy.budget.maxTokens) {
    const parent = byId.get(pool[0]!.id)!;
    row = dropRow(
      await candidateRow(run, { generation, slot }, specOf(parent), { operator: `rewrite:${target === "code" ? "code" : "prompt"}`, parents: [parent.id] }, now),
      "token budget exhausted; no rewrite asked",
    );
  } else if (pair) {
    const [a, b] = pair.map((p) => byId.get(p.id)!) as [CandidateRow, CandidateRow];
    const outcome = await proposeMerge(env, {
      ...common,
      target,
      a: { spec: specOf(a), wins: casesWon(shown(a), b.cases ?? [], trainIds) },
      b: { spec: specOf(b), wins: casesWon(shown(b), a.cases ?? [], trainIds) },
    });
    tokens = outcome.tokens;
    const base = await candidateRow(run, { generation, slot }, outcome.ok ? outcome.spec : specOf(a), { operator: "merge:model", parents: [a.id, b.id] }, now);
    row = outcome.ok ? base : dropRow(base, `merge dropped: ${outcome.reason}`);
  } else {
    const parent = byId.get(pickParent(pool, trainIds, rng).id)!;
    const cases = selectReflectiveCases(shown(parent), trainIds, undefined, rng);
    const operator = target === "code" ? "rewrite:code" : "rewrite:prompt";
    if (!cases.length) {
      row = dropRow(
        await candidateRow(run, { generation, slot }, specOf(parent), { operator, parents: [parent.id] }, now),
        "the parent fails no training case; nothing to reflect on",
      );
    } else {
      const outcome = await proposeRewrite(env, { ...common, spec: specOf(parent), target, cases });
      tokens = outcome.tokens;
      const base = await candidateRow(run, { generation, slot }, outcome.ok ? outcome.spec : specOf(parent), { operator, parents: [parent.id] }, now);
      row = outcome.ok ? base : dropRow(base, `rewrite dropped: ${outcome.reason}`);
    }
  }
  if (row.status === "pending") row = await settleRow(d, run, row, new Map(rows.map((r) => [r.genomeHash, r.id])), now);
  await insertRows(
    d,
    [row],
    [
      d
        .update(evolutionRuns)
        .set({ tokensUsed: sql`${evolutionRuns.tokensUsed} + ${tokens}`, updatedAt: now })
        .where(eq(evolutionRuns.id, runId)),
    ],
  );
  return row.status === "pending" ? row.id : null;
}

/**
 * Completes a generation's plan once its model children are in: drops a model child that repeats
 * an earlier genome (parallel rewrite slots may propose the same text), then plans the numeric
 * search's children (ES samples, merges, discrete mutations). Returns every pending child of the
 * generation, model ones first, in slot order.
 */
export async function planChildrenOf(env: Env, runId: string, generation: number, first: number, count: number): Promise<string[]> {
  const d = registryDb(env.DB);
  const pendingChildren = async () =>
    (await runCandidates(d, runId)).filter((r) => r.generation === generation && r.operator !== "seed" && r.status === "pending").map((r) => r.id);
  const rows = await runCandidates(d, runId);
  const firstOf = new Map<string, string>();
  const repeats: CandidateRow[] = [];
  for (const r of rows) {
    const twin = firstOf.get(r.genomeHash);
    if (!twin) firstOf.set(r.genomeHash, r.id);
    else if (r.generation === generation && r.status === "pending" && r.slotIndex < first) repeats.push(r);
  }
  for (const r of repeats) {
    await d
      .update(evolutionCandidates)
      .set({ status: "dropped", kept: false, reason: `duplicate of ${firstOf.get(r.genomeHash)} (same content hash); not evaluated again` })
      .where(and(eq(evolutionCandidates.id, r.id), eq(evolutionCandidates.status, "pending")));
  }
  if (rows.some((r) => r.generation === generation && r.slotIndex >= first && r.slotIndex < first + count)) return pendingChildren();
  await planParamChildren(env, runId, generation, first, count);
  return pendingChildren();
}

/** The numeric search's children of a generation, planned once. */
async function planParamChildren(env: Env, runId: string, generation: number, first: number, count: number): Promise<void> {
  const d = registryDb(env.DB);
  const run = await getRun(d, runId);
  const rows = await runCandidates(d, runId);
  if (count <= 0 || !run.searchState) return;
  const suite = await loadSuite(d, run);
  const trainIds = trainIdsOf(suite);
  const pool = runPool(rows, trainIds);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const live = rows.find((r) => r.generation === 0 && r.sourceVersion === run.baseVersion && r.operator === "seed");
  const baseRow = (pool[0] && byId.get(pool[0].id)) ?? live;
  if (!baseRow) return;
  // A search that has not moved yet starts from the best candidate known, not necessarily live.
  let es = run.searchState.es;
  if (es.updates === 0 && pool[0]) {
    es = initEs(run.policy.genes, pool[0].params);
    await d.update(evolutionRuns).set({ searchState: { es } }).where(eq(evolutionRuns.id, runId));
  }
  const { plans } = planChildren({
    pool,
    es,
    genes: run.policy.genes,
    baseParams: specOf(live ?? baseRow).params,
    count,
    rng: generationRng(run.seed, generation),
    trainIds,
    mix: { mutationRate: run.policy.mutationRate },
  });
  const now = Date.now();
  const seen = new Map(rows.map((r) => [r.genomeHash, r.id]));
  const next: CandidateRow[] = [];
  for (const [i, plan] of plans.entries()) {
    // Params are the only thing the numeric search changes: the rest comes from the first parent (or the pool's best).
    const from = (plan.parents[0] && byId.get(plan.parents[0])) || baseRow;
    const row = await candidateRow(run, { generation, slot: first + i }, { ...specOf(from), params: plan.params }, { operator: plan.operator, parents: plan.parents }, now);
    next.push(await settleRow(d, run, row, seen, now));
  }
  await insertRows(d, next);
}
