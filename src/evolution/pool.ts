import { crossoverParams, type Params } from "./operators";
import type { Genes } from "./policy";
import type { Rng } from "./prng";

/**
 * The per-case Pareto pool (as in GEPA): every candidate that is best on at least one training
 * case, minus those another candidate beats on the whole per-case vector. A candidate that
 * solves a case nobody else solves survives even with a poor mean, so what it knows can be
 * merged into the leaders. Ties are always broken by content hash, never by ids or chance.
 */

export interface PoolCandidate {
  id: string;
  /** Content hash of the genome: the only tie-breaker. */
  hash: string;
  params: Params;
  sizeBytes: number;
  cost: number;
  /** Mean score over the training cases. */
  trainScore: number;
  /** Score per training case (held-out cases must never be here). */
  caseScores: Record<string, number>;
}

const EPS = 1e-9;
/** Enough leaders to keep diversity, few enough that parent picking stays focused. */
export const DEFAULT_POOL_CAP = 24;

const scoreOn = (c: PoolCandidate, caseId: string) => c.caseScores[caseId] ?? 0;

/** Higher train score, then smaller, cheaper, then by hash: a total, reproducible order. */
export function byTrainScore(a: PoolCandidate, b: PoolCandidate): number {
  return b.trainScore - a.trainScore || a.sizeBytes - b.sizeBytes || a.cost - b.cost || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0);
}

/** a is at least as good as b on every training case and better on one. */
export function dominatesOnCases(a: PoolCandidate, b: PoolCandidate, trainIds: readonly string[]): boolean {
  let better = false;
  for (const id of trainIds) {
    const d = scoreOn(a, id) - scoreOn(b, id);
    if (d < -EPS) return false;
    if (d > EPS) better = true;
  }
  return better;
}

/** For each pool member (by hash), the training cases on which it has the best score in the pool. */
export function casesLed(pool: readonly PoolCandidate[], trainIds: readonly string[]): Map<string, string[]> {
  const led = new Map<string, string[]>(pool.map((c) => [c.hash, []]));
  for (const id of trainIds) {
    const best = Math.max(...pool.map((c) => scoreOn(c, id)));
    // A case every member fails teaches nothing about who to breed from.
    if (best <= EPS) continue;
    for (const c of pool) if (scoreOn(c, id) >= best - EPS) led.get(c.hash)!.push(id);
  }
  return led;
}

/**
 * The pool after adding candidates: one per hash, dominated members out, members that lead no
 * case out, then at most `cap` kept (most cases led first, then by train score and hash).
 * The champion (best train score) is always kept.
 */
export function updatePool(pool: readonly PoolCandidate[], added: readonly PoolCandidate[], trainIds: readonly string[], cap = DEFAULT_POOL_CAP): PoolCandidate[] {
  const byHash = new Map<string, PoolCandidate>();
  for (const c of [...pool, ...added]) if (!byHash.has(c.hash)) byHash.set(c.hash, c);
  const all = [...byHash.values()].sort(byTrainScore);
  // Equal per-case vectors: the first in train-score order stands for them all.
  const vectors = new Set<string>();
  const distinct = all.filter((c) => {
    const key = trainIds.map((id) => scoreOn(c, id).toFixed(9)).join(",");
    if (vectors.has(key)) return false;
    vectors.add(key);
    return true;
  });
  const front = distinct.filter((c) => !distinct.some((d) => d !== c && dominatesOnCases(d, c, trainIds)));
  const led = casesLed(front, trainIds);
  const leaders = front.filter((c) => led.get(c.hash)!.length > 0 || c === front[0]);
  const kept = leaders
    .map((c) => ({ c, n: led.get(c.hash)!.length }))
    .sort((a, b) => (a.c === front[0] ? -1 : b.c === front[0] ? 1 : b.n - a.n || byTrainScore(a.c, b.c)))
    .slice(0, Math.max(1, cap))
    .map((x) => x.c);
  return kept.sort(byTrainScore);
}

/** The pool's best candidate by train score. */
export const champion = (pool: readonly PoolCandidate[]): PoolCandidate | undefined => [...pool].sort(byTrainScore)[0];

/** A parent drawn in proportion to the training cases it leads (uniformly if none leads any). */
export function pickParent(pool: readonly PoolCandidate[], trainIds: readonly string[], rng: Rng): PoolCandidate {
  if (pool.length === 0) throw new Error("pick a parent from an empty pool");
  const ordered = [...pool].sort(byTrainScore);
  const led = casesLed(ordered, trainIds);
  const weights = ordered.map((c) => led.get(c.hash)!.length);
  const total = weights.reduce((a, b) => a + b, 0);
  if (total === 0) return rng.pick(ordered);
  let r = rng.next() * total;
  for (let i = 0; i < ordered.length; i++) {
    r -= weights[i]!;
    if (r < 0) return ordered[i]!;
  }
  return ordered.at(-1)!;
}

/**
 * Two members that lead on different cases, for a merge: the first drawn by cases led, the second
 * (drawn the same way) among those leading a case the first does not. None when no such pair exists.
 */
export function mergePair(pool: readonly PoolCandidate[], trainIds: readonly string[], rng: Rng): [PoolCandidate, PoolCandidate] | undefined {
  if (pool.length < 2) return undefined;
  const led = casesLed(pool, trainIds);
  const a = pickParent(pool, trainIds, rng);
  const mine = new Set(led.get(a.hash)!);
  const partners = pool.filter((c) => c.hash !== a.hash && led.get(c.hash)!.some((id) => !mine.has(id)));
  if (partners.length === 0) return undefined;
  return [a, pickParent(partners, trainIds, rng)];
}

/**
 * A merge of two parents: uniform crossover over the genes where they differ. When the draw
 * copies a parent exactly, one differing gene is flipped to the other parent, so the child is new.
 */
export function mergeParams(a: PoolCandidate, b: PoolCandidate, genes: Genes, rng: Rng): Params {
  const child = crossoverParams(a.params, b.params, genes, rng);
  const differing = Object.keys(genes)
    .sort()
    .filter((k) => JSON.stringify(a.params[k]) !== JSON.stringify(b.params[k]));
  const same = (p: Params) => differing.every((k) => JSON.stringify(child[k]) === JSON.stringify(p[k]));
  if (differing.length >= 2 && (same(a.params) || same(b.params))) {
    const key = rng.pick(differing);
    child[key] = same(a.params) ? b.params[key] : a.params[key];
  }
  return child;
}
