// The rewrite step's pure half: the request a model is shown, which cases go in it, and how its reply is read.
import { describe, expect, it } from "vitest";
import { seededRng } from "../src/evolution/prng";
import { casesWon, mergeRequest, rewriteRequest, selectReflectiveCases, type ReflectiveCase } from "../src/evolution/reflect";
import { applyRewrite, DEFAULT_REWRITE_MODEL, firstFencedBlock, rewriteModelFor } from "../src/evolution/rewrite";
import { canonicalJson, utf8Length } from "../src/registry/canonical";
import type { AgentSpec } from "../src/registry/spec";
import { code, failing, llm } from "./evolution-helpers";

const crashed: ReflectiveCase = {
  caseId: "slow",
  input: { text: "so slow" },
  error: "agent_timeout: no answer within 5000 ms",
  score: 0,
  feedback: ["the run failed: agent_timeout: no answer within 5000 ms"],
};

describe("the rewrite request", () => {
  it("shows each case as labelled lines, the current text fenced, the params, the size budget and the answer rule", () => {
    const spec = llm();
    const { system, user } = rewriteRequest({ spec, target: "prompt", cases: [failing, crashed], maxSpecBytes: 6656 });
    expect(system).toMatch(/first fenced block/);
    expect(user).toContain("Current prompt:\n```\nLabel the sentiment of the text as positive or negative.\n- otherwise answer positive\nText: {{input.text}}\n```");
    expect(user).toContain('Params (JSON): {"temperature":0}');
    expect(user).toContain(
      [
        'Case 1 of 2 (id "refund", score 0)',
        'Input: {"text":"I want a refund"}',
        'Output: "positive"',
        "Feedback:",
        '- expected "negative", got "positive"',
        "- latency 12 ms within 500",
      ].join("\n"),
    );
    expect(user).toContain(
      [
        'Case 2 of 2 (id "slow", score 0)',
        'Input: {"text":"so slow"}',
        "Error: agent_timeout: no answer within 5000 ms",
        "Feedback:",
        "- the run failed: agent_timeout: no answer within 5000 ms",
      ].join("\n"),
    );
    const specBytes = utf8Length(canonicalJson(spec));
    const promptBytes = utf8Length(JSON.stringify(spec.prompt)) - 2;
    expect(user).toContain(`at most ${6656 - (specBytes - promptBytes)} bytes (it is ${promptBytes} bytes now`);
    expect(user.trimEnd().endsWith("Anything outside the first fenced block is ignored.")).toBe(true);
  });

  it("targets params.system of llm agents (shown once, not again in the params) and the code of code agents", () => {
    const withSystem = llm({ params: { temperature: 0, system: "You label reviews." } });
    const sys = rewriteRequest({ spec: withSystem, target: "system", cases: [failing], maxSpecBytes: 6656 }).user;
    expect(sys).toContain("Current system text:\n```\nYou label reviews.\n```");
    expect(sys).toContain('Params (JSON): {"temperature":0}');
    expect(rewriteRequest({ spec: llm(), target: "system", cases: [], maxSpecBytes: 6656 }).user).toContain("(empty: the agent has no system text yet)");
    const c = rewriteRequest({ spec: code, target: "code", cases: [failing], maxSpecBytes: 6656 });
    expect(c.system).toMatch(/ES module/);
    expect(c.user).toContain("Current code:\n```\nexport default");
    expect(() => rewriteRequest({ spec: code, target: "prompt", cases: [], maxSpecBytes: 6656 })).toThrow(/llm agent/);
  });

  it("fences a text that itself holds ``` with a longer fence", () => {
    const spec = llm({ prompt: "Answer in a block:\n```\nlabel\n```\nText: {{input.text}}" });
    expect(rewriteRequest({ spec, target: "prompt", cases: [], maxSpecBytes: 6656 }).user).toContain(
      "Current prompt:\n````\nAnswer in a block:\n```\nlabel\n```\nText: {{input.text}}\n````",
    );
  });

  it("a merge request shows both texts and the cases each gets right that the other gets wrong", () => {
    const a = llm({ prompt: "A rules\nText: {{input.text}}" });
    const b = llm({ prompt: "B rules\nText: {{input.text}}" });
    const bWin: ReflectiveCase = { caseId: "love", input: { text: "love it" }, output: '"positive"', score: 1, feedback: ['output is "positive" as expected'] };
    const { system, user } = mergeRequest({
      target: "prompt",
      a: { spec: a, wins: [{ ...failing, output: '"negative"', score: 1, feedback: ['output is "negative" as expected'] }] },
      b: { spec: b, wins: [bWin] },
      maxSpecBytes: 6656,
    });
    expect(system).toMatch(/merge two versions/);
    expect(user).toContain("Prompt A:\n```\nA rules\nText: {{input.text}}\n```");
    expect(user).toContain("Prompt B:\n```\nB rules\nText: {{input.text}}\n```");
    expect(user).toMatch(
      /Cases A gets right and B gets wrong \(1, as A ran them\):\n\nCase 1 of 1 \(id "refund", score 1\)\nInput: \{"text":"I want a refund"\}\nOutput: "negative"/,
    );
    expect(user).toMatch(/Cases B gets right and A gets wrong \(1, as B ran them\):\n\nCase 1 of 1 \(id "love", score 1\)/);
  });
});

describe("choosing the cases to show", () => {
  const cases = ["a", "b", "c", "d", "e", "f", "held"].map((caseId, i) => ({ caseId, score: [0, 0, 0.5, 0, 1, 0, 0][i]!, uncertain: caseId === "f" }));
  const train = ["a", "b", "c", "d", "e", "f"];

  it("shows only failing, certain training cases, worst first, never a held-out one", () => {
    const shown = selectReflectiveCases(cases, train, 8, seededRng(1));
    expect(shown.map((c) => c.caseId).sort()).toEqual(["a", "b", "c", "d"]);
    expect(shown.at(-1)!.caseId).toBe("c");
    for (let seed = 0; seed < 50; seed++) expect(selectReflectiveCases(cases, new Set(train), 2, seededRng(seed)).map((c) => c.caseId)).not.toContain("held");
    expect(
      selectReflectiveCases(
        cases.map((c) => ({ ...c, score: 1 })),
        train,
        8,
        seededRng(1),
      ),
    ).toEqual([]);
  });

  it("gives parallel slots (different seeds) different failures when there are more than fit", () => {
    const picks = new Set(
      Array.from({ length: 12 }, (_, seed) =>
        selectReflectiveCases(cases, train, 2, seededRng(seed))
          .map((c) => c.caseId)
          .join(","),
      ),
    );
    expect(picks.size).toBeGreaterThan(2);
    expect(selectReflectiveCases(cases, train, 2, seededRng(7))).toEqual(selectReflectiveCases(cases, train, 2, seededRng(7)));
  });

  it("casesWon: training cases one side scores higher on than the other", () => {
    const a: ReflectiveCase[] = [
      { caseId: "x", input: 1, score: 1, feedback: [] },
      { caseId: "y", input: 2, score: 0, feedback: [] },
      { caseId: "held", input: 3, score: 1, feedback: [] },
    ];
    const b = [
      { caseId: "x", score: 0 },
      { caseId: "y", score: 1 },
      { caseId: "held", score: 0 },
    ];
    expect(casesWon(a, b, ["x", "y"]).map((c) => c.caseId)).toEqual(["x"]);
  });
});

describe("the parsing contract", () => {
  const spec = llm();

  it("takes the first fenced block, whatever its info string", () => {
    const r = applyRewrite(spec, "prompt", "Sure:\n```text\nNew prompt {{input.text}}\n```\nand another:\n```\nignored\n```");
    expect(r).toMatchObject({ ok: true, spec: { prompt: "New prompt {{input.text}}" } });
    expect(firstFencedBlock("````\na ``` b\n````")).toEqual({ text: "a ``` b" });
  });

  it("drops a reply without a block, with an empty or unclosed block, or the same text, saying why", () => {
    expect(applyRewrite(spec, "prompt", "New prompt without a fence")).toEqual({ ok: false, reason: "no fenced block in the reply" });
    expect(applyRewrite(spec, "prompt", "```\n\n```")).toEqual({ ok: false, reason: "the fenced block is empty" });
    expect(applyRewrite(spec, "prompt", "```\nNew prompt that never ends")).toMatchObject({ ok: false, reason: expect.stringMatching(/never closed/) });
    expect(applyRewrite(spec, "prompt", `\`\`\`\n${spec.prompt}\n\`\`\``)).toEqual({ ok: false, reason: "same as the parent" });
  });

  it("drops an invalid or oversized spec, saying why", () => {
    const broken = { ...spec, version: "1.0" } as AgentSpec;
    expect(applyRewrite(broken, "prompt", "```\nother\n```")).toMatchObject({ ok: false, reason: expect.stringMatching(/^spec invalid: version: must be a semantic version/) });
    const r = applyRewrite(spec, "prompt", `\`\`\`\n${"x".repeat(400)}\n\`\`\``, 300);
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/^over 300 bytes \(the spec would be \d+\)$/) });
  });

  it("writes system rewrites into params.system and code rewrites into code", () => {
    expect(applyRewrite(spec, "system", "```\nBe terse.\n```")).toMatchObject({ ok: true, spec: { params: { temperature: 0, system: "Be terse." }, prompt: spec.prompt } });
    const newCode = "export default { async run() { return { label: 'negative' }; } };";
    expect(applyRewrite(code, "code", `\`\`\`js\n${newCode}\n\`\`\``)).toMatchObject({ ok: true, spec: { code: newCode } });
    expect(applyRewrite(code, "system", "```\nx\n```")).toEqual({ ok: false, reason: "system rewrites need an llm agent, not code" });
  });

  it("defaults the rewriting model to the agent's own for llm agents and a documented Bedrock model otherwise", () => {
    expect(rewriteModelFor(spec)).toBe("rule-task");
    expect(rewriteModelFor(code)).toBe(DEFAULT_REWRITE_MODEL);
    expect(DEFAULT_REWRITE_MODEL).toMatch(/^anthropic\./);
    expect(rewriteModelFor(code, "my-rewriter")).toBe("my-rewriter");
  });
});
