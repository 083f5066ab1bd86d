import type { CheckResult, RunObservation } from "./checks";

/** One case's stored result. */
export interface CaseResult {
  caseId: string;
  /** Mean of the check scores, 0 when the run failed. */
  score: number;
  passed: boolean;
  /** A judge check could not agree: reported, but left out of the suite score. */
  uncertain: boolean;
  status: RunObservation["status"];
  durationMs: number;
  tokens: number;
  limitViolation: boolean;
  error?: { code: string; detail: string };
  checks: CheckResult[];
  /** One line per check, in check order (each check's `feedback`): what reflective rewrites show the model. */
  feedback?: string[];
  /** The output, cut to a short canonical JSON text. */
  output?: string;
}

export function scoreCase(checks: readonly CheckResult[], run: RunObservation): Pick<CaseResult, "score" | "passed" | "uncertain"> {
  const uncertain = checks.some((c) => c.uncertain);
  if (run.status !== "succeeded") return { score: 0, passed: false, uncertain };
  const score = checks.length ? checks.reduce((s, c) => s + c.score, 0) / checks.length : 0;
  return { score, passed: checks.every((c) => c.passed), uncertain };
}

export interface SuiteScore {
  /** Weighted mean of the counted cases' scores, in [0, 1]; 0 when nothing could be counted. */
  score: number;
  counted: number;
  uncertain: number;
  passed: number;
}

/** The weighted suite score over the given cases; uncertain cases are not counted either way. */
export function suiteScore(results: readonly Pick<CaseResult, "caseId" | "score" | "passed" | "uncertain">[], weightOf: (caseId: string) => number): SuiteScore {
  let total = 0;
  let weights = 0;
  let counted = 0;
  let uncertain = 0;
  let passed = 0;
  for (const r of results) {
    if (r.uncertain) {
      uncertain++;
      continue;
    }
    const w = weightOf(r.caseId);
    total += w * r.score;
    weights += w;
    counted++;
    if (r.passed) passed++;
  }
  return { score: weights > 0 ? total / weights : 0, counted, uncertain, passed };
}

function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

/** P(X >= k) for X ~ Binomial(n, 1/2), exactly. */
export function binomialUpperTail(n: number, k: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  let p = 0;
  for (let i = k; i <= n; i++) p += Math.exp(logChoose(n, i) - n * Math.LN2);
  return Math.min(1, p);
}

export interface SignTest {
  wins: number;
  losses: number;
  ties: number;
  /** One-sided p-value that the challenger is no better than the baseline. */
  pValue: number;
}

/**
 * One-sided exact sign test over paired per-case scores: ties are dropped, and under the null
 * hypothesis (the challenger is no better) each remaining case is a fair coin.
 */
export function signTest(pairs: readonly { challenger: number; baseline: number }[]): SignTest {
  let wins = 0;
  let losses = 0;
  let ties = 0;
  for (const { challenger, baseline } of pairs) {
    const d = challenger - baseline;
    if (Math.abs(d) < 1e-9) ties++;
    else if (d > 0) wins++;
    else losses++;
  }
  return { wins, losses, ties, pValue: binomialUpperTail(wins + losses, wins) };
}

/** Pairs two result sets by case id, skipping cases either side found uncertain. */
export function pairCases(
  challenger: readonly Pick<CaseResult, "caseId" | "score" | "uncertain">[],
  baseline: readonly Pick<CaseResult, "caseId" | "score" | "uncertain">[],
  include: (caseId: string) => boolean = () => true,
): { caseId: string; challenger: number; baseline: number }[] {
  const base = new Map(baseline.map((r) => [r.caseId, r]));
  const pairs: { caseId: string; challenger: number; baseline: number }[] = [];
  for (const r of challenger) {
    const b = base.get(r.caseId);
    if (!b || r.uncertain || b.uncertain || !include(r.caseId)) continue;
    pairs.push({ caseId: r.caseId, challenger: r.score, baseline: b.score });
  }
  return pairs;
}

/** Significance level for the regression flag and the promotion gate. */
export const SIGNIFICANCE = 0.05;

/**
 * A version regresses when, on the cases both were scored on, its parent does significantly
 * better (one-sided sign test, p <= 0.05) — or, without per-case results, when its score is
 * more than 0.05 below the parent's.
 */
export function isRegression(
  version: { score: number; cases?: readonly Pick<CaseResult, "caseId" | "score" | "uncertain">[] },
  parent: { score: number; cases?: readonly Pick<CaseResult, "caseId" | "score" | "uncertain">[] },
): { regression: boolean; pValue: number | null } {
  if (version.cases && parent.cases) {
    const test = signTest(pairCases(parent.cases, version.cases));
    return { regression: version.score < parent.score && test.pValue <= SIGNIFICANCE, pValue: test.pValue };
  }
  return { regression: version.score < parent.score - 0.05, pValue: null };
}
