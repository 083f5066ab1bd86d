import { canonicalJson } from "../registry/canonical";
import { mutateParams, type Params } from "./operators";
import { isRangeGene, type Genes } from "./policy";
import { byTrainScore, champion, mergePair, mergeParams, pickParent, type PoolCandidate } from "./pool";
import type { Rng } from "./prng";
import { esMeanParams, rangeGeneKeys, sampleEs, type EsRanked, type EsState } from "./strategy";

/**
 * One generation's plan for the numeric search: ES samples around the strategy's mean, merges
 * of pool members that lead on different cases, and discrete mutations for choice genes.
 * Pure: the same pool, state and rng give the same plans.
 */

export type SearchOperator = "es" | "merge" | "mutation";

export interface SearchPlan {
  params: Params;
  /** Pool ids the child came from; the first is the one to screen it against. */
  parents: string[];
  operator: SearchOperator;
}

export interface SearchMix {
  /** Share of the children that are merges, when the pool has a pair to merge. */
  merge: number;
  /** Share of the children that are discrete mutations, when there are choice genes. */
  mutation: number;
  /** Chance that each choice gene of a mutant changes (at least one always does). */
  mutationRate: number;
  /** Whether the ES mean itself is one of the children (when new). */
  mean: boolean;
}

export const DEFAULT_MIX: SearchMix = { merge: 0.125, mutation: 0.25, mutationRate: 0.3, mean: true };

export interface PlanInput {
  /** The per-case Pareto pool (may be empty in a run's first generation). */
  pool: readonly PoolCandidate[];
  es: EsState;
  genes: Genes;
  /** Params every child starts from for keys no operator sets (live's, usually). */
  baseParams: Params;
  count: number;
  rng: Rng;
  trainIds: readonly string[];
  mix?: Partial<SearchMix>;
}

export interface SearchPlanResult {
  plans: SearchPlan[];
  counts: Record<SearchOperator, number>;
}

const choiceGenesOf = (genes: Genes): Genes => Object.fromEntries(Object.entries(genes).filter(([, g]) => !isRangeGene(g)));

/**
 * Plans up to `count` children, none repeating a pool member or another child. ES samples carry
 * the champion's choice genes; merges draw a pair leading on different cases; mutants change
 * only choice genes of a parent drawn by cases led (range genes are the ES's job). Fewer than
 * `count` plans come back when the genes leave nothing new to try (e.g. no genes at all).
 */
export function planChildren(input: PlanInput): SearchPlanResult {
  const { pool, es, genes, count, rng, trainIds } = input;
  const mix = { ...DEFAULT_MIX, ...input.mix };
  const counts: Record<SearchOperator, number> = { es: 0, merge: 0, mutation: 0 };
  const plans: SearchPlan[] = [];
  if (count <= 0 || Object.keys(genes).length === 0) return { plans, counts };

  const best = champion(pool);
  const hasRange = rangeGeneKeys(genes).length > 0 && es.genes.length > 0;
  const choices = choiceGenesOf(genes);
  const hasChoice = Object.keys(choices).length > 0;
  const seen = new Set(pool.map((c) => canonicalJson(c.params)));
  const add = (plan: SearchPlan): boolean => {
    const key = canonicalJson(plan.params);
    if (seen.has(key) || plans.length >= count) return false;
    seen.add(key);
    plans.push(plan);
    counts[plan.operator]++;
    return true;
  };

  const merges = pool.length >= 2 ? Math.round(count * mix.merge) : 0;
  const mutations = hasChoice && pool.length > 0 ? (hasRange ? Math.round(count * mix.mutation) : count - merges) : 0;
  for (let i = 0, tries = 0; i < merges && tries < merges * 4; tries++) {
    const pair = mergePair(pool, trainIds, rng);
    if (!pair) break;
    const [a, b] = [...pair].sort(byTrainScore);
    if (add({ params: mergeParams(a!, b!, genes, rng), parents: [a!.id, b!.id], operator: "merge" })) i++;
  }
  for (let i = 0, tries = 0; i < mutations && tries < mutations * 4; tries++) {
    const parent = pickParent(pool, trainIds, rng);
    if (add({ params: mutateParams(parent.params, choices, mix.mutationRate, rng).params, parents: [parent.id], operator: "mutation" })) i++;
  }
  if (hasRange) {
    // ES samples keep the champion's choice genes, and live's other keys.
    const base: Params = { ...input.baseParams };
    if (best) for (const k of Object.keys(choices)) if (k in best.params) base[k] = best.params[k];
    const parents = best ? [best.id] : [];
    // The mean itself: the ES's consensus, often the best generaliser of the generation.
    if (mix.mean) add({ params: esMeanParams(es, genes, base), parents, operator: "es" });
    for (const params of sampleEs(es, genes, base, (count - plans.length) * 2, rng)) add({ params, parents, operator: "es" });
  }
  // Only choice genes and a thin pool: fill the rest with mutants of the base.
  if (!hasRange && hasChoice) {
    const from = best?.params ?? input.baseParams;
    for (let tries = 0; plans.length < count && tries < count * 4; tries++) {
      add({ params: mutateParams(from, choices, mix.mutationRate, rng).params, parents: best ? [best.id] : [], operator: "mutation" });
    }
  }
  return { plans, counts };
}

/** A child of a generation as the ES update ranks it. */
export interface RankedChild {
  hash: string;
  params: Params;
  /** Set when the child had the full training evaluation. */
  trainScore?: number;
  /** The child's mean on its screening minibatch, when it was screened. */
  screenScore?: number;
}

/**
 * A generation's children ranked for `updateEs`: fully evaluated ones by train score, then those
 * screened out by their minibatch score; equal scores share a rank (the mean of their places).
 */
export function rankForEs(children: readonly RankedChild[]): EsRanked[] {
  const tier = (c: RankedChild) => (c.trainScore !== undefined ? 0 : 1);
  const value = (c: RankedChild) => c.trainScore ?? c.screenScore ?? 0;
  const sorted = [...children].sort((a, b) => tier(a) - tier(b) || value(b) - value(a) || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  const same = (a: RankedChild, b: RankedChild) => tier(a) === tier(b) && Math.abs(value(a) - value(b)) < 1e-9;
  const out: EsRanked[] = [];
  for (let start = 0; start < sorted.length; ) {
    let end = start;
    while (end + 1 < sorted.length && same(sorted[end + 1]!, sorted[start]!)) end++;
    for (let k = start; k <= end; k++) out.push({ params: sorted[k]!.params, rank: (start + end) / 2 });
    start = end + 1;
  }
  return out;
}
