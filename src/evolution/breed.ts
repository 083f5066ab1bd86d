import { canonicalJson } from "../registry/canonical";
import { crossoverParams, mutateParams, type Params } from "./operators";
import type { Genes } from "./policy";
import type { Rng } from "./prng";
import { tournament, type Scored } from "./selection";

export interface Parent extends Scored {
  params: Params;
}

export type Operator = "seed" | "mutation" | "crossover" | "crossover+mutation" | "rewrite:prompt" | "rewrite:code";

export interface ChildPlan {
  params: Params;
  parents: string[];
  operator: Operator;
}

export interface BreedSettings {
  genes: Genes;
  mutationRate: number;
  crossoverRate: number;
  tournamentSize: number;
}

/**
 * Plans `count` children from the parents: with probability crossoverRate a uniform crossover of
 * two tournament winners (mutated too when it would copy a parent), else a mutant of one winner.
 * Children that repeat a parent or an earlier child are re-drawn a few times, so a generation
 * spends its evaluations on new genomes. Pure: the same rng state gives the same children.
 */
export function breed(parents: readonly Parent[], count: number, settings: BreedSettings, rng: Rng): ChildPlan[] {
  if (parents.length === 0) return [];
  const seen = new Set(parents.map((p) => canonicalJson(p.params)));
  const children: ChildPlan[] = [];
  for (let i = 0; i < count; i++) {
    let plan: ChildPlan | undefined;
    for (let attempt = 0; attempt < 6; attempt++) {
      plan = breedOne(parents, settings, rng);
      if (!seen.has(canonicalJson(plan.params))) break;
    }
    seen.add(canonicalJson(plan!.params));
    children.push(plan!);
  }
  return children;
}

function breedOne(parents: readonly Parent[], s: BreedSettings, rng: Rng): ChildPlan {
  if (parents.length >= 2 && rng.next() < s.crossoverRate) {
    const a = tournament(parents, s.tournamentSize, rng);
    let b = tournament(parents, s.tournamentSize, rng);
    for (let tries = 0; b.id === a.id && tries < 3; tries++) b = tournament(parents, s.tournamentSize, rng);
    if (b.id !== a.id) {
      const crossed = crossoverParams(a.params, b.params, s.genes, rng);
      const copiesParent = [a, b].some((p) => canonicalJson(p.params) === canonicalJson(crossed));
      const mutated = mutateParams(crossed, s.genes, s.mutationRate, rng);
      // Mutate a crossover child at the usual rate; a child that copies a parent must change.
      const keepMutation = copiesParent || rng.next() < s.mutationRate;
      return keepMutation ? { params: mutated.params, parents: [a.id, b.id], operator: "crossover+mutation" } : { params: crossed, parents: [a.id, b.id], operator: "crossover" };
    }
  }
  const parent = tournament(parents, s.tournamentSize, rng);
  return { params: mutateParams(parent.params, s.genes, s.mutationRate, rng).params, parents: [parent.id], operator: "mutation" };
}
