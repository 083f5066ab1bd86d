import { describe, expect, it } from "vitest";
import specJson from "../examples/sentiment/spec.json";
import agentCode from "../examples/sentiment/agent.js?raw";
import type { CaseResult } from "../src/evaluation/score";
import { checkCode } from "../src/evolution/code-policy";
import { safetyGate, widenings, type GateCase, type GateInput } from "../src/evolution/gate";
import { agentSpecSchema, type AgentSpec } from "../src/registry/spec";
import { canaryDecision } from "../src/deploy/canary";

const live: AgentSpec = agentSpecSchema.parse({ ...specJson, code: agentCode });

// 20 cases: 12 held out (the gate's), 8 training; two guards.
const cases: GateCase[] = Array.from({ length: 20 }, (_, i) => ({ id: `c${i}`, weight: 1, guard: i === 0 || i === 15, heldOut: i >= 8 }));

const results = (scoreOf: (i: number) => number, extra: Partial<CaseResult> = {}): CaseResult[] =>
  cases.map((c, i) => ({
    caseId: c.id,
    score: scoreOf(i),
    passed: scoreOf(i) === 1,
    uncertain: false,
    status: "succeeded",
    durationMs: 1,
    tokens: 0,
    limitViolation: false,
    checks: [],
    ...extra,
  }));

// Live gets the first half right; a good child gets 18 of 20 (all the guards).
const liveCases = results((i) => (i < 10 ? 1 : 0));
const goodCases = results((i) => (i < 18 || i === 0 ? 1 : 0));

const gate = (child: Partial<GateInput["child"]>, policy = { minImprovement: 0.05, maxSizeBytes: 6656 }) =>
  safetyGate({ child: { spec: { ...live, params: { ...live.params, threshold: 0 } }, cases: goodCases, ...child }, live: { spec: live, cases: liveCases }, cases, policy });

const failed = (v: ReturnType<typeof gate>) => v.checks.filter((c) => !c.ok).map((c) => c.rule);

describe("safety gate", () => {
  it("passes a smaller-or-equal, policy-clean child that beats live significantly on held-out cases", () => {
    const v = gate({});
    expect(v.decision).toBe("pass");
    expect(v.reasons).toEqual([]);
    expect(v.heldOut.signTest).toMatchObject({ wins: 8, losses: 0 });
    expect(v.heldOut.signTest.pValue).toBeCloseTo(1 / 256, 6);
  });

  it("blocks a child over 6,656 bytes (6,657 exactly)", () => {
    const spec = { ...live, description: "" };
    const base = new TextEncoder().encode(JSON.stringify(spec)).length; // canonical differs only in key order
    const padded = { ...spec, description: "x".repeat(6657 - base) };
    const v = gate({ spec: padded });
    expect(new TextEncoder().encode(JSON.stringify(padded)).length).toBe(6657);
    expect(v.decision).toBe("blocked");
    expect(failed(v)).toEqual(["size"]);
    expect(v.reasons[0]).toMatch(/6657 bytes; the limit is 6656/);
    expect(gate({ spec: { ...spec, description: "x".repeat(6656 - base) } }).decision).toBe("pass");
  });

  it("sends a child that widens its network permission to approval, not to canary", () => {
    const v = gate({ spec: { ...live, permissions: { ...live.permissions, network: ["api.example.com"] } } });
    expect(v.decision).toBe("approval");
    expect(failed(v)).toEqual(["permissions"]);
    expect(v.reasons[0]).toMatch(/network host api\.example\.com is new/);
  });

  it("counts every kind of widening, and narrowing as none", () => {
    const parent = { ...live, permissions: { network: ["*.example.com"], models: ["m1"], maxTokensPerRun: 100 }, capabilities: ["a"] };
    expect(widenings({ ...parent, permissions: { network: ["api.example.com"], models: [], maxTokensPerRun: 50 }, capabilities: [] }, parent)).toEqual([]);
    expect(widenings({ ...parent, permissions: { network: ["*.com"], models: ["m1", "m2"], maxTokensPerRun: 200 }, capabilities: ["a", "b"] }, parent)).toEqual([
      "network host *.com is new",
      "model m2 is new",
      "maxTokensPerRun rises from 100 to 200",
      "capability b is new",
    ]);
  });

  it("blocks code that uses eval, Function, imports or new hosts — and says which", () => {
    const evil = live.kind === "code" ? live.code.replace("let score = 0;", 'let score = eval("0");') : "";
    const v = gate({ spec: { ...live, code: evil } as AgentSpec });
    expect(v.decision).toBe("blocked");
    expect(failed(v)).toEqual(["code-policy"]);
    expect(v.reasons[0]).toMatch(/references eval/);
    expect(checkCode("export default { run: () => new Function('return 1')() }", []).map((x) => x.rule)).toEqual(["dynamic-code"]);
    expect(checkCode("export default { run: () => (() => 0).constructor('return 1')() }", [])[0]?.detail).toMatch(/constructor/);
    expect(checkCode("import x from 'node:fs'; export default { run: () => x }", [])[0]?.rule).toBe("import");
    expect(checkCode("export default { run: async () => (await import('x')).y }", [])[0]?.rule).toBe("import");
    expect(checkCode("export default { run: () => fetch('https://evil.example.net/x') }", ["api.example.com"])[0]).toEqual({
      rule: "network-host",
      detail: "names host evil.example.net, which its parent may not reach",
    });
    expect(checkCode("export default { run: () => fetch('https://api.example.com/x') }", ["api.example.com"])).toEqual([]);
    expect(checkCode("export default { run: (x) => ({ eval: x.value }) }", [])).toEqual([]); // a key named eval is not a reference
    expect(checkCode("export default { run: () => globalThis.eval('1') }", [])[0]?.detail).toBe("references .eval");
    expect(checkCode("export default {", [])[0]?.rule).toBe("parse");
  });

  it("blocks a child that regresses a guard case even when it wins overall", () => {
    const v = gate({ cases: results((i) => (i === 0 ? 0 : i < 19 ? 1 : 0)) });
    expect(v.decision).toBe("blocked");
    expect(failed(v)).toEqual(["guard-cases"]);
    expect(v.reasons[0]).toBe("guard cases regress: c0");
  });

  it("blocks a child whose held-out gain is too small or not significant", () => {
    // +1 held-out case of 12: improvement 0.083 but the sign test gives p = 0.5.
    const v = gate({ cases: results((i) => (i <= 10 ? 1 : 0)) });
    expect(failed(v)).toEqual(["improvement"]);
    expect(v.reasons[0]).toMatch(/p = 0\.5000/);
    // A child better only on training cases (never seen by the gate) does not pass either.
    expect(failed(gate({ cases: results((i) => (i < 10 ? 1 : 0)) }))).toEqual(["improvement"]);
  });

  it("blocks a child that hit a sandbox limit", () => {
    const v = gate({ cases: goodCases.map((c, i) => (i === 3 ? { ...c, limitViolation: true } : c)) });
    expect(failed(v)).toEqual(["limits"]);
  });

  it("respects a policy size limit below the registry's", () => {
    expect(failed(gate({}, { minImprovement: 0.05, maxSizeBytes: 200 }))).toEqual(["size"]);
  });
});

describe("canary decision", () => {
  it("waits for the window, promotes when not worse, rolls back when worse", () => {
    expect(canaryDecision({ succeeded: 3, total: 3 }, { succeeded: 10, total: 10 }, 5).decision).toBe("wait");
    expect(canaryDecision({ succeeded: 5, total: 5 }, { succeeded: 9, total: 10 }, 5).decision).toBe("promote");
    expect(canaryDecision({ succeeded: 9, total: 10 }, { succeeded: 9, total: 10 }, 10).decision).toBe("promote");
    const worse = canaryDecision({ succeeded: 2, total: 5 }, { succeeded: 5, total: 5 }, 5);
    expect(worse.decision).toBe("rollback");
    expect(worse.detail).toMatch(/canary 40\.0% \(2\/5\) vs live 100\.0% \(5\/5\)/);
    expect(canaryDecision({ succeeded: 5, total: 5 }, { succeeded: 0, total: 0 }, 5).decision).toBe("promote");
  });
});
