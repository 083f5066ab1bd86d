// proposeRewrite and proposeMerge against the local Bedrock fixture, and end to end through the sandbox runner.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import { runSuite } from "../src/evaluation/evaluate";
import { sandboxRunner } from "../src/evaluation/runner";
import { splitCases } from "../src/evaluation/split";
import { suiteInputSchema } from "../src/evaluation/suite";
import { seededRng } from "../src/evolution/prng";
import { casesWon, reflectiveCases, selectReflectiveCases, type ReflectiveCase } from "../src/evolution/reflect";
import { proposeMerge, proposeRewrite } from "../src/evolution/rewrite";
import type { AgentSpec } from "../src/registry/spec";
import { control, requestsFor } from "./bedrock-control";
import { code, failing, llm } from "./evolution-helpers";

const workerEnv = env as unknown as Env;

const userText = (body: any): string =>
  body.messages
    .at(-1)
    .content.map((c: any) => c.text)
    .join("");

describe("proposeRewrite and proposeMerge over signed Converse (local Bedrock fixture)", () => {
  it("returns the new spec and the tokens the model used; held-out cases never reach the request", async () => {
    await control("script", { modelId: "rw-scripted", reply: { text: "Here:\n```\nBetter prompt {{input.text}}\n```", usage: { inputTokens: 300, outputTokens: 20 } } });
    const heldOut: ReflectiveCase = {
      caseId: "secret-held-out",
      input: { text: "held out text" },
      output: '"positive"',
      score: 0,
      feedback: ['expected "negative", got "positive"'],
    };
    const r = await proposeRewrite(workerEnv, { spec: llm(), target: "prompt", cases: [failing, heldOut], modelId: "rw-scripted", trainIds: new Set(["refund"]) });
    expect(r).toMatchObject({ ok: true, tokens: 320, modelId: "rw-scripted", spec: { prompt: "Better prompt {{input.text}}" } });
    const [seen] = await requestsFor("rw-scripted");
    expect(seen!.signature).toBe("valid");
    expect(seen!.body.system[0].text).toMatch(/first fenced block/);
    expect(userText(seen!.body)).toContain('Input: {"text":"I want a refund"}');
    expect(JSON.stringify(seen!.body)).not.toMatch(/secret-held-out|held out text/);
  });

  it("counts tokens of a dropped answer, and turns model errors and wrong targets into reasons (never throws)", async () => {
    await control("script", { modelId: "rw-chatty", reply: { text: "I would change the tone.", usage: { inputTokens: 50, outputTokens: 6 } } });
    expect(await proposeRewrite(workerEnv, { spec: llm(), target: "prompt", cases: [failing], modelId: "rw-chatty" })).toEqual({
      ok: false,
      reason: "no fenced block in the reply",
      tokens: 56,
      modelId: "rw-chatty",
    });
    await control("script", { modelId: "rw-broken", failures: [{ status: 400, code: "ValidationException", message: "model not found" }] });
    const failed = await proposeRewrite(workerEnv, { spec: llm(), target: "prompt", cases: [failing], modelId: "rw-broken" });
    expect(failed).toMatchObject({ ok: false, tokens: 0, reason: expect.stringMatching(/^model error: bedrock_error: .*model not found/) });
    const wrong = await proposeRewrite(workerEnv, { spec: code, target: "prompt", cases: [failing], modelId: "rw-never-called" });
    expect(wrong).toEqual({ ok: false, reason: "prompt rewrites need an llm agent, not code", tokens: 0, modelId: "rw-never-called" });
    expect(await requestsFor("rw-never-called")).toEqual([]);
  });

  it("a merge lands in a's spec and must differ from both parents", async () => {
    await control("script", { modelId: "rw-merge-same", reply: { text: "```\nB text {{input.text}}\n```" } });
    const a = llm({ prompt: "A text {{input.text}}" });
    const b = llm({ prompt: "B text {{input.text}}" });
    expect(await proposeMerge(workerEnv, { target: "prompt", a: { spec: a, wins: [] }, b: { spec: b, wins: [] }, modelId: "rw-merge-same" })).toMatchObject({
      ok: false,
      reason: "same as a parent",
    });
  });
});

describe("end to end: a rewriting model that can only fix what it is shown", () => {
  const texts: Record<string, [string, string]> = {
    refund: ["I want a refund", "negative"],
    late: ["It arrived two weeks late", "negative"],
    fine: ["Works fine", "positive"],
    broken: ["Broken on arrival", "negative"],
    awful: ["Awful smell", "negative"],
    rude: ["Rude support staff", "negative"],
    love: ["I love it", "positive"],
    great: ["Great value", "positive"],
    cold: ["Food was cold", "negative"],
    noisy: ["Too noisy at night", "negative"],
  };
  const suite = suiteInputSchema.parse({
    name: "rules",
    agent: "sentiment",
    cases: Object.entries(texts).map(([id, [text, label]]) => ({ id, input: { text }, checks: [{ type: "equals", value: label }] })),
  });
  const split = splitCases(suite.cases.map((c) => c.id));
  const runner = sandboxRunner(workerEnv, { actor: "test:rewrite" });
  const scores = async (spec: AgentSpec) => new Map((await runSuite(spec, suite, runner)).map((r) => [r.caseId, r.score]));

  it("proposeRewrite fixes exactly the shown training cases, for the prompt and for the system text", async () => {
    expect(split.heldOut.has("refund") && split.heldOut.has("late")).toBe(true);
    await control("script", { modelId: "rule-task", behaviour: "rule-task" });
    await control("script", { modelId: "rule-rewriter", behaviour: "rule-rewriter" });
    for (const target of ["prompt", "system"] as const) {
      const parent = target === "prompt" ? llm() : llm({ prompt: "Text: {{input.text}}", params: { temperature: 0, system: "Label the text.\n- otherwise answer positive" } });
      const results = await runSuite(parent, suite, runner);
      expect(results.find((r) => r.caseId === "broken")!.feedback).toEqual(['expected "negative", got "positive"']);
      const shown = selectReflectiveCases(reflectiveCases(suite.cases, results), split.train, undefined, seededRng(target));
      expect(shown.map((c) => c.caseId).sort()).toEqual(["awful", "broken", "cold", "noisy", "rude"]);

      const outcome = await proposeRewrite(workerEnv, { spec: parent, target, cases: shown, modelId: "rule-rewriter", trainIds: split.train });
      expect(outcome.ok, !outcome.ok ? outcome.reason : "").toBe(true);
      if (!outcome.ok) return;
      expect(outcome.tokens).toBeGreaterThan(0);
      const after = await scores(outcome.spec);
      for (const id of split.train) expect(after.get(id), id).toBe(1);
      // The held-out negatives were never shown, so nothing fixed them.
      expect(after.get("refund")).toBe(0);
      expect(after.get("late")).toBe(0);
      expect(after.get("fine")).toBe(1);
    }
    for (const r of await requestsFor("rule-rewriter")) {
      const sent = JSON.stringify(r.body);
      for (const id of split.heldOut) expect(sent).not.toContain(texts[id]![0]);
    }
  });

  it("proposeMerge unites two candidates that lead on different cases", async () => {
    await control("script", { modelId: "rule-task", behaviour: "rule-task" });
    await control("script", { modelId: "rule-rewriter", behaviour: "rule-rewriter" });
    const a = llm({ prompt: 'Label it.\n- if the text contains "broken" answer negative\n- otherwise answer positive\nText: {{input.text}}' });
    const b = llm({ prompt: 'Label it.\n- if the text contains "cold" answer negative\n- otherwise answer positive\nText: {{input.text}}' });
    const [ra, rb] = [await runSuite(a, suite, runner), await runSuite(b, suite, runner)];
    const [shownA, shownB] = [reflectiveCases(suite.cases, ra), reflectiveCases(suite.cases, rb)];
    expect(casesWon(shownA, rb, split.train).map((c) => c.caseId)).toEqual(["broken"]);
    expect(casesWon(shownB, ra, split.train).map((c) => c.caseId)).toEqual(["cold"]);
    const outcome = await proposeMerge(workerEnv, {
      target: "prompt",
      a: { spec: a, wins: casesWon(shownA, rb, split.train) },
      b: { spec: b, wins: casesWon(shownB, ra, split.train) },
      modelId: "rule-rewriter",
    });
    expect(outcome.ok, !outcome.ok ? outcome.reason : "").toBe(true);
    if (!outcome.ok) return;
    const after = await scores(outcome.spec);
    expect(after.get("broken")).toBe(1);
    expect(after.get("cold")).toBe(1);
  });
});
