import { describe, expect, it } from "vitest";
import { seededRng } from "../src/evolution/prng";
import { api } from "./helpers";
import { evolveWithLiveTraffic, liveScore } from "./evolution-helpers";

// A code agent this project never tuned for: 24 keyword weights and a bias, all starting at 0.
const POSITIVE = ["sturdy", "vivid", "snappy", "roomy", "quiet", "crisp", "tidy", "zesty", "plush", "nimble", "sleek", "sunny"];
const NEGATIVE = ["rusty", "soggy", "laggy", "cramped", "shrill", "murky", "greasy", "stale", "scratchy", "clumsy", "dusty", "gloomy"];
const FILLER = ["a", "we", "got", "this", "last", "week", "it", "is", "very", "pretty", "so", "kind", "of", "and", "the", "bag"];
const WORDS = [...POSITIVE, ...NEGATIVE];

const code = `export default {
  async run(input, ctx) {
    let total = ctx.params.bias;
    for (const word of String(input.text).split(" ")) total += ctx.params["k_" + word] ?? 0;
    return { verdict: total > 0 ? "good" : "bad" };
  },
};`;

/** 60 reviews from a seed: filler around one or two keywords; the label follows the keywords' side (a mixed pair follows the first). */
function suiteCases() {
  const rng = seededRng("numeric-suite");
  return Array.from({ length: 60 }, (_, i) => {
    const good = i % 2 === 0;
    const main = rng.pick(good ? POSITIVE : NEGATIVE);
    const words = Array.from({ length: 4 }, () => rng.pick(FILLER));
    words.splice(rng.int(words.length + 1), 0, main);
    if (i % 5 === 0) words.push(rng.pick(good ? POSITIVE : NEGATIVE));
    return { id: `r${String(i).padStart(2, "0")}`, input: { text: words.join(" ") }, checks: [{ type: "equals", path: "verdict", value: good ? "good" : "bad" }] };
  });
}

describe("a numeric-param code agent evolved by the adaptive search", { timeout: 900_000 }, () => {
  it("climbs from a coin-flip start to live ≥ 0.9 within three runs of 16 × 5, every promotion gated", async () => {
    const params = Object.fromEntries([...WORDS.map((w) => [`k_${w}`, 0]), ["bias", 0]]);
    const genes = Object.fromEntries([...WORDS.map((w) => [`k_${w}`, { min: -2, max: 2, step: 0.25 }]), ["bias", { min: -1, max: 1, step: 0.25 }]]);
    expect(Object.keys(genes).length).toBe(25);
    const cases = suiteCases();
    expect((await api("POST", "/api/v1/agents", { body: { name: "verdicts", version: "1.0.0", kind: "code", code, params } })).status).toBe(201);
    expect((await api("POST", "/api/v1/suites", { body: { name: "verdicts-suite", agent: "verdicts", cases } })).status).toBe(201);
    const set = await api("PUT", "/api/v1/agents/verdicts/evolution", {
      body: { suite: "verdicts-suite", population: 16, generationsPerRun: 5, genes, seed: 11, canary: { window: 5 } },
    });
    expect(set.status, set.text).toBe(200);

    expect(await liveScore("verdicts", "verdicts-suite")).toBeCloseTo(0.5, 5);
    const runs = await evolveWithLiveTraffic(
      "verdicts",
      "verdicts-suite",
      cases.slice(0, 5).map((c) => c.input),
      { runs: 3, target: 0.9, timeoutMs: 600_000 },
    );
    expect(await liveScore("verdicts", "verdicts-suite")).toBeGreaterThanOrEqual(0.9);
    for (const r of runs.filter((x) => x.outcome.decision === "pass")) {
      const champion = r.candidates.find((c: any) => c.id === r.outcome.champion);
      expect(champion.gate.checks.every((k: any) => k.ok)).toBe(true);
    }
    // Screening kept some children from a full evaluation, and the run says what that saved.
    expect(runs.some((r) => r.screening.screenedOut > 0 && r.screening.evaluationsSaved > 0)).toBe(true);
  });
});
