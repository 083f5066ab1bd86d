import { canonicalJson } from "../registry/canonical";
import type { AgentSpec } from "../registry/spec";
import { applyCheck, type CheckResult, type RunObservation } from "./checks";
import { judgeCheck, type JudgeModel } from "./judge";
import { scoreCase, suiteScore, type CaseResult } from "./score";
import { splitCases } from "./split";
import type { EvaluationSummary } from "./store";
import type { Suite } from "./suite";

/** What one sandbox run returns, as far as evaluation is concerned (the runtime's RunResult fits). */
export interface CaseRun {
  status: "succeeded" | "failed";
  output?: unknown;
  error?: { code: string; detail: string };
  durationMs: number;
  usage?: { totalTokens: number };
  limitViolation?: boolean;
}

/** Runs one case; a runner that collects its run records writes them in `flush`, which runSuite calls once at the end. */
export type CaseRunner = ((spec: AgentSpec, input: unknown) => Promise<CaseRun>) & { flush?: () => Promise<void> };

const OUTPUT_KEEP_CHARS = 2000;

/** Error codes that mean the sandbox stopped the agent at a limit (the runtime also flags these runs itself). */
const LIMIT_CODES = new Set(["agent_timeout", "agent_output_too_large"]);

/** Runs one case and applies its checks. */
export async function evaluateCase(spec: AgentSpec, c: Suite["cases"][number], suite: Pick<Suite, "judges">, run: CaseRunner, judge?: JudgeModel): Promise<CaseResult> {
  const result = await run(spec, c.input);
  const observation: RunObservation = {
    status: result.status,
    output: result.output,
    durationMs: result.durationMs,
    totalTokens: result.usage?.totalTokens ?? 0,
    ...(result.error ? { error: result.error } : {}),
  };
  let judgeTokens = 0;
  const checks: CheckResult[] = [];
  for (const check of c.checks) {
    if (check.type !== "judge") {
      checks.push(applyCheck(check, observation));
      continue;
    }
    const unavailable: JudgeModel = async () => {
      throw Object.assign(new Error("Bedrock is not configured"), { code: "bedrock_not_configured" });
    };
    const { tokens, ...r } = await judgeCheck(check, c.input, observation, suite.judges, judge ?? unavailable);
    judgeTokens += tokens;
    checks.push(r);
  }
  const output = result.output === undefined ? undefined : canonicalJson(result.output);
  return {
    caseId: c.id,
    ...scoreCase(checks, observation),
    status: result.status,
    durationMs: result.durationMs,
    tokens: observation.totalTokens + judgeTokens,
    limitViolation: Boolean(result.limitViolation) || LIMIT_CODES.has(result.error?.code ?? ""),
    ...(result.error ? { error: { code: result.error.code, detail: result.error.detail.slice(0, 500) } } : {}),
    checks,
    feedback: checks.map((c) => c.feedback ?? (c.detail ? `${c.type}: ${c.detail}` : `${c.type}: ${c.passed ? "passed" : "failed"}`)),
    ...(output !== undefined ? { output: output.length > OUTPUT_KEEP_CHARS ? `${output.slice(0, OUTPUT_KEEP_CHARS)}…` : output } : {}),
  };
}

/** Runs every case of a suite against a spec, a few at a time, in suite order; then the runner writes its records in one batch. */
export async function runSuite(
  spec: AgentSpec,
  suite: Pick<Suite, "cases" | "judges">,
  run: CaseRunner,
  opts: { judge?: JudgeModel; concurrency?: number } = {},
): Promise<CaseResult[]> {
  const results: CaseResult[] = new Array(suite.cases.length);
  let next = 0;
  const worker = async () => {
    while (next < suite.cases.length) {
      const i = next++;
      results[i] = await evaluateCase(spec, suite.cases[i]!, suite, run, opts.judge);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 6, suite.cases.length) }, worker));
  } finally {
    // Also after a failed case: the runs that did happen are recorded.
    await run.flush?.();
  }
  return results;
}

/** Overall, training and held-out scores of a set of case results (see split.ts for the split). */
export function summarize(suite: Pick<Suite, "cases">, results: readonly CaseResult[]): EvaluationSummary {
  const weight = new Map(suite.cases.map((c) => [c.id, c.weight]));
  const weightOf = (id: string) => weight.get(id) ?? 1;
  const split = splitCases(suite.cases.map((c) => c.id));
  const all = suiteScore(results, weightOf);
  return {
    score: all.score,
    trainScore: suiteScore(
      results.filter((r) => split.train.has(r.caseId)),
      weightOf,
    ).score,
    heldOutScore: suiteScore(
      results.filter((r) => split.heldOut.has(r.caseId)),
      weightOf,
    ).score,
    counted: all.counted,
    uncertain: all.uncertain,
    passed: all.passed,
    total: results.length,
    tokens: results.reduce((n, r) => n + r.tokens, 0),
  };
}
