import { median } from "../evaluation/judge";
import { breed, type BreedSettings, type ChildPlan, type Parent } from "./breed";
import type { EvolutionPolicy } from "./policy";
import { eliteCountOf } from "./policy";
import { seededRng, type Rng } from "./prng";
import { selectSurvivors, type Scored, type Selection } from "./selection";

/**
 * The generational loop as pure steps; the queue-driven run (run.ts) stores their results in D1
 * between steps, and the tests drive them directly. Generation 0 evaluates the seeds (live, the
 * canary and the best genomes of earlier runs) together with their mutants; every later generation
 * keeps the survivors of the one before and breeds new children from them.
 */

/** One rng per (run, generation): a generation re-planned after a restart breeds the same children. */
export const generationRng = (runSeed: number, generation: number): Rng => seededRng(`${runSeed}:${generation}`);

export const breedSettings = (p: EvolutionPolicy): BreedSettings => ({
  genes: p.genes,
  mutationRate: p.mutationRate,
  crossoverRate: p.crossoverRate,
  tournamentSize: p.tournamentSize,
});

/** At most half the population survives, so every generation breeds at least half anew. */
export const survivorCap = (p: Pick<EvolutionPolicy, "population">) => Math.max(1, Math.floor(p.population / 2));

export function firstGeneration(seeds: readonly Parent[], policy: EvolutionPolicy, rng: Rng): ChildPlan[] {
  const seedPlans: ChildPlan[] = seeds.map((s) => ({ params: s.params, parents: [s.id], operator: "seed" }));
  return [...seedPlans, ...breed(seeds, Math.max(1, policy.population - seeds.length), breedSettings(policy), rng)];
}

export function nextGeneration(survivors: readonly Parent[], policy: EvolutionPolicy, rng: Rng): ChildPlan[] {
  return breed(survivors, Math.max(1, policy.population - survivors.length), breedSettings(policy), rng);
}

export function select<T extends Scored>(population: readonly T[], policy: EvolutionPolicy): Selection<T> {
  return selectSurvivors(population, eliteCountOf(policy), survivorCap(policy));
}

export function spreadOf(scores: readonly number[]): { best: number; median: number; worst: number } {
  if (scores.length === 0) return { best: 0, median: 0, worst: 0 };
  return { best: Math.max(...scores), median: median(scores), worst: Math.min(...scores) };
}
