import { describe, expect, it } from "vitest";
import classifier from "../examples/sentiment/agent.js";
import policyJson from "../examples/sentiment/policy.json";
import specJson from "../examples/sentiment/spec.json";
import suiteJson from "../examples/sentiment/suite.json";
import type { Params } from "../src/evolution/operators";
import type { Genes } from "../src/evolution/policy";
import { seededRng } from "../src/evolution/prng";
import { planChildren, rankForEs } from "../src/evolution/search";
import { simulate } from "../src/evolution/simulate";
import { esStateSchema, initEs, resumeEs, sampleEs, updateEs, type EsState } from "../src/evolution/strategy";
import { splitCases } from "../src/evaluation/split";

const genes = policyJson.genes as Genes;
const start = specJson.params as Params;

/** Runs the ES alone on a smooth function of the normalised coordinates (higher is better). */
function optimise(fn: (x: number[]) => number, g: Genes, from: Params, sigma: number, generations: number): EsState[] {
  let es = initEs(g, from, { sigma });
  const history = [es];
  for (let i = 0; i < generations; i++) {
    const samples = sampleEs(es, g, from, 12, seededRng(`opt:${i}`));
    const scored = samples.map((p) => ({ p, f: fn(es.genes.map((k) => ((p[k] as number) - (g[k] as { min: number }).min) / 100)) }));
    es = updateEs(es, g, rankForEs(scored.map(({ p, f }) => ({ hash: JSON.stringify(p), params: p, trainScore: f }))));
    history.push(es);
  }
  return history;
}

const continuous: Genes = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`x${i}`, { min: 0, max: 100 }]));

describe("the evolution strategy", () => {
  it("samples inside each range, on its steps, copying other keys, and is plain JSON", () => {
    const es = initEs(genes, start);
    expect(esStateSchema.parse(JSON.parse(JSON.stringify(es)))).toEqual(es);
    const samples = sampleEs(es, genes, { ...start, model: "m1" }, 16, seededRng(1));
    expect(samples).toHaveLength(16);
    expect(new Set(samples.map((s) => JSON.stringify(s))).size).toBe(16);
    for (const s of samples) {
      expect(s.model).toBe("m1");
      for (const [k, g] of Object.entries(genes)) {
        const v = s[k] as number;
        if (!("min" in g)) continue;
        expect(v).toBeGreaterThanOrEqual(g.min);
        expect(v).toBeLessThanOrEqual(g.max);
        expect(Math.abs(v / 0.5 - Math.round(v / 0.5))).toBeLessThan(1e-9);
      }
    }
  });

  it("is deterministic: the same seed gives the same children, another seed others", () => {
    const es = initEs(genes, start);
    expect(sampleEs(es, genes, start, 8, seededRng("a"))).toEqual(sampleEs(es, genes, start, 8, seededRng("a")));
    expect(sampleEs(es, genes, start, 8, seededRng("a"))).not.toEqual(sampleEs(es, genes, start, 8, seededRng("b")));
    const plan = () => planChildren({ pool: [], es, genes, baseParams: start, count: 16, rng: seededRng(9), trainIds: [] });
    expect(plan()).toEqual(plan());
  });

  it("adapts its step size: it widens along a slope and narrows at an optimum", () => {
    const slope = optimise((x) => x.reduce((s, v) => s + v, 0), continuous, Object.fromEntries(Object.keys(continuous).map((k) => [k, 10])), 0.01, 12);
    expect(slope.at(-1)!.sigma).toBeGreaterThan(slope[0]!.sigma * 2);
    const bowl = optimise((x) => -x.reduce((s, v) => s + (v - 0.5) ** 2, 0), continuous, Object.fromEntries(Object.keys(continuous).map((k) => [k, 45])), 0.3, 30);
    expect(bowl.at(-1)!.sigma).toBeLessThan(bowl[0]!.sigma / 3);
    for (const m of bowl.at(-1)!.mean) expect(Math.abs(m - 0.5)).toBeLessThan(0.05);
  });

  it("carries a stored state into the next run, and starts new genes afresh", () => {
    const es = updateEs(
      initEs(genes, start),
      genes,
      rankForEs(sampleEs(initEs(genes, start), genes, start, 8, seededRng(2)).map((p, i) => ({ hash: String(i), params: p, trainScore: i }))),
    );
    const wider: Genes = { ...genes, w_fine: { min: -3, max: 3, step: 0.5 } };
    const resumed = resumeEs(JSON.parse(JSON.stringify(es)), wider, start);
    expect(resumed.sigma).toBe(es.sigma);
    expect(resumed.mean[resumed.genes.indexOf("w_great")]).toBe(es.mean[es.genes.indexOf("w_great")]);
    expect(resumed.mean[resumed.genes.indexOf("w_fine")]).toBe(0.5);
    expect(resumeEs({ not: "a state" }, genes, start)).toEqual(initEs(genes, start));
  });

  it("plans nothing without genes, and only choice mutations without range genes", () => {
    const none = planChildren({ pool: [], es: initEs({}, {}), genes: {}, baseParams: {}, count: 8, rng: seededRng(1), trainIds: [] });
    expect(none.plans).toEqual([]);
    const choiceOnly: Genes = { model: { choices: ["a", "b", "c"] }, style: { choices: ["x", "y"] } };
    const { plans } = planChildren({ pool: [], es: initEs(choiceOnly, {}), genes: choiceOnly, baseParams: { model: "a", style: "x" }, count: 8, rng: seededRng(1), trainIds: [] });
    expect(plans.length).toBeGreaterThan(0);
    expect(plans.length).toBeLessThanOrEqual(5); // only 5 other genomes exist
    for (const p of plans) expect(p.operator).toBe("mutation");
  });
});

describe("adaptive search on the example classifier", () => {
  const cases = suiteJson.cases as { id: string; input: { text: string }; checks: { value: string }[] }[];
  const split = splitCases(cases.map((c) => c.id));
  const evaluate = async (params: Params) => {
    const out: Record<string, number> = {};
    for (const c of cases) out[c.id] = (await classifier.run(c.input, { params })).label === c.checks[0]!.value ? 1 : 0;
    return out;
  };
  const input = { evaluate, trainIds: [...split.train], heldOutIds: [...split.heldOut], genes, startParams: start, population: 16, generations: 5, runs: 1, seed: 3 };

  it("reaches 0.85 on the training cases from the coin flip within a bounded number of evaluations", async () => {
    const report = await simulate({ ...input, strategy: "adaptive" });
    expect(report.runs[0]!.liveBefore.all).toBeLessThanOrEqual(0.55);
    expect(report.candidatesToTarget).not.toBeNull();
    expect(report.candidatesToTarget!).toBeLessThanOrEqual(60);
    expect(report.caseRunsToTarget!).toBeLessThanOrEqual(6000);
    const curve = report.runs[0]!.bestTrainByGeneration;
    for (let i = 1; i < curve.length; i++) expect(curve[i]).toBeGreaterThanOrEqual(curve[i - 1]!);
  });

  it("is reproducible run for run", async () => {
    const a = await simulate({ ...input, strategy: "adaptive", generations: 3 });
    const b = await simulate({ ...input, strategy: "adaptive", generations: 3 });
    expect(b).toEqual(a);
  });
});
