import { describe, expect, it } from "vitest";
import { splitCases } from "../src/evaluation/split";
import { seededRng } from "../src/evolution/prng";
import { control } from "./bedrock-control";
import { api } from "./helpers";
import { evolveWithLiveTraffic, liveScore } from "./evolution-helpers";

// A review classifier this project never tuned for: its label hangs on one of 24 words.
const POSITIVE = ["delightful", "superb", "reliable", "sturdy", "gorgeous", "flawless", "handy", "cozy", "brilliant", "speedy", "charming", "elegant"];
const NEGATIVE = ["flimsy", "sluggish", "noisy", "leaky", "smelly", "faulty", "clunky", "dull", "pricey", "wobbly", "grimy", "useless"];
const FILLER = ["the", "box", "arrived", "today", "and", "it", "feels", "quite", "really", "honestly", "overall", "my", "kitchen", "desk", "this", "lamp"];

/** 72 cases from a seed: each a few filler words around one keyword, labelled by that keyword. */
function suiteCases() {
  const rng = seededRng("reflective-suite");
  return Array.from({ length: 72 }, (_, i) => {
    const positive = i % 2 === 0;
    const word = rng.pick(positive ? POSITIVE : NEGATIVE);
    const words = Array.from({ length: 5 }, () => rng.pick(FILLER));
    words.splice(rng.int(words.length + 1), 0, word);
    return { id: `review-${String(i).padStart(2, "0")}`, input: { text: words.join(" ") }, checks: [{ type: "equals", value: positive ? "positive" : "negative" }] };
  });
}

const TASK_MODEL = "fixture.task-classifier";
const REWRITER = "fixture.reflective-rewriter";

describe("an llm agent improved only by reflective prompt rewrites", { timeout: 600_000 }, () => {
  it("climbs from a coin-flip start to live ≥ 0.9 within three runs, and no held-out case ever reaches a rewrite request", async () => {
    // The task model follows the rules in its prompt; the rewriter knows which words carry meaning but can only add rules for words it is shown.
    await control("script", { modelId: TASK_MODEL, behaviour: "rule-task", defaultAnswer: "negative" });
    await control("script", { modelId: REWRITER, behaviour: "rule-rewriter", keywords: [...POSITIVE, ...NEGATIVE] });
    const cases = suiteCases();
    const spec = {
      name: "reviews",
      version: "1.0.0",
      kind: "llm",
      model: TASK_MODEL,
      description: "Labels a product review positive or negative.",
      prompt: "Label the review as positive or negative. Answer with the label only.\n- otherwise answer negative\nText: {{input.text}}",
    };
    expect((await api("POST", "/api/v1/agents", { body: spec })).status).toBe(201);
    expect((await api("POST", "/api/v1/suites", { body: { name: "reviews-suite", agent: "reviews", cases } })).status).toBe(201);
    const policy = {
      suite: "reviews-suite",
      population: 8,
      generationsPerRun: 3,
      genes: {},
      rewrites: "prompt",
      rewriteModel: REWRITER,
      seed: 7,
      minImprovement: 0.05,
      canary: { window: 5 },
    };
    const set = await api("PUT", "/api/v1/agents/reviews/evolution", { body: policy });
    expect(set.status, set.text).toBe(200);

    expect(await liveScore("reviews", "reviews-suite")).toBeCloseTo(0.5, 5);
    const runs = await evolveWithLiveTraffic(
      "reviews",
      "reviews-suite",
      cases.slice(0, 5).map((c) => c.input),
      { runs: 3, target: 0.9, timeoutMs: 300_000 },
    );
    expect(await liveScore("reviews", "reviews-suite")).toBeGreaterThanOrEqual(0.9);

    // Every child was a model rewrite or merge, scored and gated like any other.
    const children = runs.flatMap((r) => r.candidates.filter((c: any) => c.operator !== "seed"));
    expect(children.length).toBeGreaterThan(0);
    for (const c of children) expect(["rewrite:prompt", "merge:model"]).toContain(c.operator);
    for (const r of runs.filter((x) => x.outcome.decision === "pass")) {
      const champion = r.candidates.find((c: any) => c.id === r.outcome.champion);
      expect(champion.gate.checks.every((k: any) => k.ok)).toBe(true);
    }
    expect(runs.reduce((n, r) => n + r.budget.tokensUsed, 0)).toBeGreaterThan(0);

    // The split holds: no held-out case's text was ever shown to the rewriting model.
    const heldOut = splitCases(cases.map((c) => c.id)).heldOut;
    const requests: { body: any }[] = await control(`requests?id=${encodeURIComponent(REWRITER)}`);
    expect(requests.length).toBeGreaterThan(0);
    const shown = requests.map((r) => JSON.stringify(r.body)).join("\n");
    for (const c of cases.filter((x) => heldOut.has(x.id))) expect(shown.includes(JSON.stringify(c.input.text).slice(1, -1)), c.id).toBe(false);
    expect(shown).toContain("Feedback:");
  });
});
