import { describe, expect, it } from "vitest";
import classifier from "../examples/sentiment/agent.js";
import policyJson from "../examples/sentiment/policy.json";
import specJson from "../examples/sentiment/spec.json";
import suiteJson from "../examples/sentiment/suite.json";
import type { Parent } from "../src/evolution/breed";
import { firstGeneration, generationRng, nextGeneration, select, spreadOf } from "../src/evolution/engine";
import { mutateParams, type Params } from "../src/evolution/operators";
import { evolutionPolicySchema, type EvolutionPolicy } from "../src/evolution/policy";
import { seededRng } from "../src/evolution/prng";
import { breed } from "../src/evolution/breed";
import { splitCases } from "../src/evaluation/split";

const policy: EvolutionPolicy = evolutionPolicySchema.parse({ ...policyJson, suite: "sentiment-suite" });
const cases = suiteJson.cases as { id: string; input: { text: string }; checks: { value: string }[] }[];
const split = splitCases(cases.map((c) => c.id));

/** Scores params on the training cases by running the example's own code in-process. */
async function trainScore(params: Params): Promise<number> {
  let right = 0;
  let total = 0;
  for (const c of cases) {
    if (!split.train.has(c.id)) continue;
    total++;
    if ((await classifier.run(c.input, { params })).label === c.checks[0]!.value) right++;
  }
  return right / total;
}

/** The generational loop, driven by the same pure steps the queue-driven run stores between. */
async function evolve(seed: number, generations: number) {
  const p = { ...policy, seed };
  let counter = 0;
  const evaluate = async (params: Params): Promise<Parent> => ({ id: `c${counter++}`, params, score: await trainScore(params), sizeBytes: 1000, cost: 0 });
  const start = await evaluate(specJson.params);
  let population: Parent[] = [
    start,
    ...(await Promise.all(
      firstGeneration([start], p, generationRng(seed, 0))
        .slice(1)
        .map((c) => evaluate(c.params)),
    )),
  ];
  const best: number[] = [];
  for (let g = 0; g < generations; g++) {
    const { survivors } = select(population, p);
    best.push(spreadOf(population.map((c) => c.score)).best);
    if (g === generations - 1) break;
    const children = await Promise.all(nextGeneration(survivors, p, generationRng(seed, g + 1)).map((c) => evaluate(c.params)));
    population = [...survivors, ...children];
  }
  return { start: start.score, best };
}

describe("evolution search on the example classifier", () => {
  it("starts poor and climbs, generation by generation, to a clearly better score", async () => {
    const { start, best } = await evolve(42, 9);
    expect(start).toBeLessThanOrEqual(0.55);
    for (let i = 1; i < best.length; i++) expect(best[i]).toBeGreaterThanOrEqual(best[i - 1]!); // elitism never loses the best
    expect(best.at(-1)!).toBeGreaterThanOrEqual(start + 0.25);
  });

  it("is reproducible: the same seed gives the same scores, another seed another path", async () => {
    const a = await evolve(7, 4);
    const b = await evolve(7, 4);
    expect(b.best).toEqual(a.best);
    const plansA = breed([{ id: "p", params: specJson.params, score: 0, sizeBytes: 1, cost: 0 }], 6, { ...policy, tournamentSize: 3 }, seededRng(1));
    const plansB = breed([{ id: "p", params: specJson.params, score: 0, sizeBytes: 1, cost: 0 }], 6, { ...policy, tournamentSize: 3 }, seededRng(2));
    expect(plansA).not.toEqual(plansB);
  });
});

describe("operators", () => {
  it("mutation stays inside each gene and always changes something", () => {
    const rng = seededRng("m");
    for (let i = 0; i < 200; i++) {
      const { params, changed } = mutateParams(specJson.params, policy.genes, 0.2, rng);
      expect(changed.length).toBeGreaterThan(0);
      for (const [key, gene] of Object.entries(policy.genes)) {
        const v = params[key] as number;
        if ("min" in gene) {
          expect(v).toBeGreaterThanOrEqual(gene.min);
          expect(v).toBeLessThanOrEqual(gene.max);
          expect(Math.abs(v / 0.5 - Math.round(v / 0.5))).toBeLessThan(1e-9);
        }
      }
    }
  });
});
