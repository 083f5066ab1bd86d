import { describe, expect, it } from "vitest";
import { applyCheck, atPath, type RunObservation } from "../src/evaluation/checks";
import { evaluateCase } from "../src/evaluation/evaluate";
import { judgeCheck, judgeConsensus, parseJudgeScore, type JudgeModel } from "../src/evaluation/judge";
import { binomialUpperTail, isRegression, scoreCase, signTest, suiteScore } from "../src/evaluation/score";
import { fnv1a, splitCases } from "../src/evaluation/split";
import { suiteInputSchema, type Check } from "../src/evaluation/suite";
import { agentSpecSchema } from "../src/registry/spec";

const ok = (output: unknown, extra: Partial<RunObservation> = {}): RunObservation => ({ status: "succeeded", output, durationMs: 12, totalTokens: 30, ...extra });
const check = (c: unknown) =>
  suiteInputSchema.parse({ name: "s", agent: "a", cases: [{ id: "c", input: 1, checks: [c] }] }).cases[0]!.checks[0] as Exclude<Check, { type: "judge" }>;

describe("deterministic checks", () => {
  it("equals compares canonical JSON at a dotted path", () => {
    expect(applyCheck(check({ type: "equals", path: "a.b", value: { y: 2, x: 1 } }), ok({ a: { b: { x: 1, y: 2 } } })).passed).toBe(true);
    const miss = applyCheck(check({ type: "equals", path: "a.b", value: 1 }), ok({ a: {} }));
    expect(miss).toMatchObject({ passed: false, score: 0, detail: "expected 1, got nothing" });
    expect(applyCheck(check({ type: "equals", value: [1, "x"] }), ok([1, "x"])).passed).toBe(true);
    expect(atPath({ items: [{ n: 5 }] }, "items.0.n")).toBe(5);
  });

  it("contains finds substrings and array members", () => {
    expect(applyCheck(check({ type: "contains", value: "lo w" }), ok("hello world")).passed).toBe(true);
    expect(applyCheck(check({ type: "contains", path: "tags", value: "b" }), ok({ tags: ["a", "b"] })).passed).toBe(true);
    expect(applyCheck(check({ type: "contains", path: "tags", value: "c" }), ok({ tags: ["a", "b"] })).passed).toBe(false);
  });

  it("regex matches strings (and canonical JSON of other values)", () => {
    expect(applyCheck(check({ type: "regex", pattern: "^pos", flags: "i" }), ok("Positive")).passed).toBe(true);
    expect(applyCheck(check({ type: "regex", pattern: "^\\d+$" }), ok(42)).passed).toBe(true);
    expect(() => check({ type: "regex", pattern: "(" })).toThrow(/not a valid regular expression/);
  });

  it("jsonSchema validates without eval (works in workerd)", () => {
    const schema = { type: "object", required: ["label"], properties: { label: { enum: ["positive", "negative"] } } };
    expect(applyCheck(check({ type: "jsonSchema", schema }), ok({ label: "positive" })).passed).toBe(true);
    const bad = applyCheck(check({ type: "jsonSchema", schema }), ok({ label: "meh" }));
    expect(bad.passed).toBe(false);
    expect(bad.detail).toMatch(/label/);
  });

  it("number passes within tolerance only", () => {
    expect(applyCheck(check({ type: "number", path: "v", value: 1, tolerance: 0.1 }), ok({ v: 1.05 })).passed).toBe(true);
    expect(applyCheck(check({ type: "number", path: "v", value: 1, tolerance: 0.1 }), ok({ v: 1.2 })).passed).toBe(false);
    expect(applyCheck(check({ type: "number", path: "v", value: 1 }), ok({ v: "1" })).passed).toBe(false);
  });

  it("maxLatencyMs and maxTokens read the run's measurements", () => {
    expect(applyCheck(check({ type: "maxLatencyMs", value: 12 }), ok(null)).passed).toBe(true);
    expect(applyCheck(check({ type: "maxLatencyMs", value: 11 }), ok(null)).passed).toBe(false);
    expect(applyCheck(check({ type: "maxTokens", value: 29 }), ok(null)).detail).toBe("used 30 tokens, the limit is 29");
  });

  it("a failed run fails its output checks and scores 0", () => {
    const failed: RunObservation = { status: "failed", durationMs: 3, totalTokens: 0, error: { code: "agent_failed", detail: "boom" } };
    const r = applyCheck(check({ type: "equals", value: 1 }), failed);
    expect(r).toMatchObject({ passed: false, detail: "the run failed: agent_failed" });
    expect(scoreCase([r], failed)).toEqual({ score: 0, passed: false, uncertain: false });
  });
});

describe("feedback lines (what a reflective rewrite shows the model)", () => {
  const fb = (c: unknown, run: RunObservation) => applyCheck(check(c), run).feedback;

  it("equals says what was expected and what came, with or without a path", () => {
    expect(fb({ type: "equals", path: "label", value: "positive" }, ok({ label: "negative" }))).toBe('expected label "positive", got "negative"');
    expect(fb({ type: "equals", path: "label", value: "positive" }, ok({ label: "positive" }))).toBe('label is "positive" as expected');
    expect(fb({ type: "equals", value: "positive" }, ok("negative"))).toBe('expected "positive", got "negative"');
    expect(fb({ type: "equals", value: "positive" }, ok("positive"))).toBe('output is "positive" as expected');
    expect(fb({ type: "equals", path: "a.b", value: 1 }, ok({}))).toBe("expected a.b 1, got nothing");
  });

  it("latency and tokens say over or within the limit", () => {
    expect(fb({ type: "maxLatencyMs", value: 500 }, ok(null, { durationMs: 812 }))).toBe("latency 812 ms over 500");
    expect(fb({ type: "maxLatencyMs", value: 500 }, ok(null))).toBe("latency 12 ms within 500");
    expect(fb({ type: "maxTokens", value: 29 }, ok(null))).toBe("tokens 30 over 29");
    expect(fb({ type: "maxTokens", value: 30 }, ok(null))).toBe("tokens 30 within 30");
  });

  it("contains, regex, jsonSchema and number say what they wanted", () => {
    expect(fb({ type: "contains", path: "tags", value: "c" }, ok({ tags: ["a"] }))).toBe('expected tags to contain "c", got ["a"]');
    expect(fb({ type: "contains", value: "lo" }, ok("hello"))).toBe('output contains "lo" as expected');
    expect(fb({ type: "regex", pattern: "^pos", flags: "i" }, ok("neg"))).toBe('expected output to match /^pos/i, got "neg"');
    expect(fb({ type: "regex", pattern: "^pos" }, ok("positive"))).toBe("output matches /^pos/ as expected");
    const schema = { type: "object", required: ["label"] };
    expect(fb({ type: "jsonSchema", schema }, ok({}))).toMatch(/^expected output to match the JSON schema \{"required":\["label"\],"type":"object"\}, got \{\} \(.*label/);
    expect(fb({ type: "jsonSchema", schema }, ok({ label: 1 }))).toBe("output matches the JSON schema as expected");
    expect(fb({ type: "number", path: "v", value: 1, tolerance: 0.1 }, ok({ v: 1.2 }))).toBe("expected v 1 ± 0.1, got 1.2");
    expect(fb({ type: "number", path: "v", value: 1 }, ok({ v: 1 }))).toBe("v is 1 as expected");
    expect(fb({ type: "number", path: "v", value: 1, tolerance: 0.1 }, ok({ v: 1.05 }))).toBe("v is 1.05, within 0.1 of 1 as expected");
  });

  it("a failed run says so with its code and detail, and the old detail is kept", () => {
    const failed: RunObservation = { status: "failed", durationMs: 3, totalTokens: 0, error: { code: "agent_failed", detail: "The agent threw: boom" } };
    expect(applyCheck(check({ type: "equals", value: 1 }), failed)).toMatchObject({
      detail: "the run failed: agent_failed",
      feedback: "the run failed: agent_failed: The agent threw: boom",
    });
  });

  it("a judge check's feedback carries the consensus score and the rubric", async () => {
    const model: JudgeModel = async () => ({ text: '{"score":0.4}', totalTokens: 5 });
    const r = await judgeCheck({ type: "judge", rubric: "is it polite?", passAt: 0.5 }, "hi", ok("go away"), { models: ["a", "b"], maxSpread: 0.3 }, model);
    expect(r.feedback).toBe('judges scored 0.40 against the rubric "is it polite?" (passes at 0.5): fails');
    const failed = await judgeCheck(
      { type: "judge", rubric: "x", passAt: 0.5 },
      "hi",
      { status: "failed", durationMs: 1, totalTokens: 0, error: { code: "agent_timeout", detail: "too slow" } },
      { models: ["a"], maxSpread: 0.3 },
      model,
    );
    expect(failed.feedback).toBe("the run failed: agent_timeout: too slow");
  });

  it("a case result carries one feedback line per check, in check order", async () => {
    const suite = suiteInputSchema.parse({
      name: "s",
      agent: "a",
      cases: [
        {
          id: "c",
          input: { text: "refund please" },
          checks: [
            { type: "equals", path: "label", value: "negative" },
            { type: "maxLatencyMs", value: 500 },
          ],
        },
      ],
    });
    const agent = agentSpecSchema.parse({ name: "a", version: "1.0.0", kind: "code", code: "export default { async run() { return {}; } };" });
    const result = await evaluateCase(agent, suite.cases[0]!, suite, async () => ({ status: "succeeded", output: { label: "positive" }, durationMs: 812 }));
    expect(result.feedback).toEqual(['expected label "negative", got "positive"', "latency 812 ms over 500"]);
    expect(result.checks.map((c) => c.feedback)).toEqual(result.feedback);
  });
});

describe("suite schema", () => {
  it("refuses duplicate case ids and judge checks with no judges, naming the field", () => {
    const r = suiteInputSchema.safeParse({
      name: "s",
      agent: "a",
      cases: [
        { id: "x", input: 1, checks: [{ type: "judge", rubric: "polite" }] },
        { id: "x", input: 2, checks: [{ type: "equals", value: 2 }] },
      ],
    });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join("."));
    expect(paths).toContain("cases.0.checks.0.judges");
    expect(paths).toContain("cases.1.id");
  });
});

describe("scores", () => {
  it("weights cases and leaves uncertain ones out", () => {
    const weights: Record<string, number> = { a: 3, b: 1, c: 5 };
    const s = suiteScore(
      [
        { caseId: "a", score: 1, passed: true, uncertain: false },
        { caseId: "b", score: 0, passed: false, uncertain: false },
        { caseId: "c", score: 0, passed: false, uncertain: true },
      ],
      (id) => weights[id]!,
    );
    expect(s).toEqual({ score: 0.75, counted: 2, uncertain: 1, passed: 1 });
  });

  it("sign test is exact and one-sided", () => {
    expect(binomialUpperTail(5, 5)).toBeCloseTo(1 / 32, 12);
    expect(binomialUpperTail(10, 8)).toBeCloseTo(56 / 1024, 12);
    const t = signTest([
      { challenger: 1, baseline: 0 },
      { challenger: 1, baseline: 1 },
      { challenger: 0, baseline: 1 },
    ]);
    expect(t).toEqual({ wins: 1, losses: 1, ties: 1, pValue: 0.75 });
  });

  it("flags a version significantly below its parent as a regression, and a small dip not", () => {
    const cases = (n: number, right: number) => Array.from({ length: n }, (_, i) => ({ caseId: `c${i}`, score: i < right ? 1 : 0, uncertain: false }));
    expect(isRegression({ score: 0.4, cases: cases(20, 8) }, { score: 0.9, cases: cases(20, 18) }).regression).toBe(true);
    expect(isRegression({ score: 0.85, cases: cases(20, 17) }, { score: 0.9, cases: cases(20, 18) }).regression).toBe(false);
    expect(isRegression({ score: 0.5 }, { score: 0.9 })).toEqual({ regression: true, pValue: null });
  });
});

describe("train / held-out split", () => {
  it("depends only on the case id, holds out about a third, never all or none", () => {
    const ids = Array.from({ length: 300 }, (_, i) => `case-${i}`);
    const s = splitCases(ids);
    expect(s.heldOut.size).toBeGreaterThan(70);
    expect(s.heldOut.size).toBeLessThan(130);
    const subset = splitCases(ids.slice(0, 100));
    for (const id of ids.slice(0, 100)) expect(subset.heldOut.has(id)).toBe(s.heldOut.has(id));
    const allTrain = splitCases(ids.filter((id) => fnv1a(id) % 3 !== 0).slice(0, 5));
    expect(allTrain.heldOut.size).toBe(1);
    expect(allTrain.train.size).toBe(4);
  });
});

describe("judges", () => {
  it("reads scores from JSON or a bare number, and nothing else", () => {
    expect(parseJudgeScore('Sure. {"score": 0.8, "reason": "ok"}')).toBe(0.8);
    expect(parseJudgeScore("0.25")).toBe(0.25);
    expect(parseJudgeScore('{"score": 7}')).toBeNull();
    expect(parseJudgeScore("I think it is good")).toBeNull();
  });

  it("takes the median and flags disagreement beyond the threshold as uncertain", () => {
    expect(judgeConsensus([0.8, 0.9, 0.7], 0.3)).toMatchObject({ consensus: 0.8, uncertain: false });
    expect(judgeConsensus([0.1, 0.9, 0.8], 0.3)).toMatchObject({ consensus: 0.8, uncertain: true });
    expect(judgeConsensus([0.9, null, null], 0.3).uncertain).toBe(true);
    expect(judgeConsensus([0.6], 0.3)).toMatchObject({ consensus: 0.6, uncertain: false });
  });

  it("asks each model in parallel and keeps their answers", async () => {
    const replies: Record<string, string> = { a: '{"score":0.9}', b: '{"score":0.7}', c: "no idea" };
    const model: JudgeModel = async (id) => ({ text: replies[id]!, totalTokens: 10 });
    const c = { type: "judge" as const, rubric: "is it polite?", passAt: 0.5 };
    const r = await judgeCheck(c, "hi", ok("hello"), { models: ["a", "b", "c"], maxSpread: 0.3 }, model);
    expect(r).toMatchObject({ passed: true, score: 0.8, uncertain: false, tokens: 30 });
    expect(r.judges?.[2]).toEqual({ model: "c", score: null, error: "unreadable score" });
  });
});
