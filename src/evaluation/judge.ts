import { canonicalJson } from "../registry/canonical";
import { atPath, failedRunFeedback, type CheckResult, type RunObservation } from "./checks";
import type { Check, JudgeConfig } from "./suite";

/** The part of the models layer a judge needs: one prompt in, text and token usage out. */
export type JudgeModel = (modelId: string, system: string, prompt: string) => Promise<{ text: string; totalTokens: number }>;

export const JUDGE_SYSTEM =
  "You grade the output of an AI agent against a rubric. Reply with only a JSON object " +
  '{"score": <number from 0 to 1>, "reason": "<one sentence>"}, where 1 means the output fully meets the rubric.';

export function judgePrompt(rubric: string, input: unknown, output: unknown): string {
  return `Rubric:\n${rubric}\n\nInput given to the agent:\n${canonicalJson(input)}\n\nOutput to grade:\n${canonicalJson(output)}`;
}

/** Reads a judge's score: the `score` of the first JSON object in the reply, else a lone number; null if neither is in [0, 1]. */
export function parseJudgeScore(text: string): number | null {
  const objectMatch = /\{[\s\S]*?\}/.exec(text);
  if (objectMatch) {
    try {
      const parsed = JSON.parse(objectMatch[0]) as { score?: unknown };
      if (typeof parsed.score === "number") return parsed.score >= 0 && parsed.score <= 1 ? parsed.score : null;
    } catch {
      // not JSON; try a bare number below
    }
  }
  const numberMatch = /^\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text);
  if (!numberMatch) return null;
  const n = Number(numberMatch[1]);
  return n >= 0 && n <= 1 ? n : null;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Consensus of k judges: the median score. When the judges disagree by more than `maxSpread`
 * (highest minus lowest), or fewer than two answered, the case is uncertain: it is reported but
 * left out of the score rather than counted one way or the other.
 */
export function judgeConsensus(scores: readonly (number | null)[], maxSpread: number): { consensus: number | null; spread: number | null; uncertain: boolean } {
  const answered = scores.filter((s): s is number => s !== null);
  if (answered.length === 0) return { consensus: null, spread: null, uncertain: true };
  const spread = Math.max(...answered) - Math.min(...answered);
  const tooFew = scores.length > 1 && answered.length < 2;
  return { consensus: median(answered), spread, uncertain: tooFew || spread > maxSpread + 1e-9 };
}

/** Asks every judge model, in parallel, to score the run's output against the rubric. */
export async function judgeCheck(
  check: Extract<Check, { type: "judge" }>,
  input: unknown,
  run: RunObservation,
  suiteJudges: JudgeConfig | undefined,
  model: JudgeModel,
): Promise<CheckResult & { tokens: number }> {
  const config = check.judges ?? suiteJudges;
  if (!config) throw new Error("a judge check needs judges"); // the suite schema refuses this
  if (run.status !== "succeeded")
    return { type: "judge", passed: false, score: 0, detail: `the run failed: ${run.error?.code ?? "error"}`, feedback: failedRunFeedback(run.error), tokens: 0 };
  const prompt = judgePrompt(check.rubric, input, atPath(run.output, check.path));
  const answers = await Promise.all(
    config.models.map(async (modelId) => {
      try {
        const reply = await model(modelId, JUDGE_SYSTEM, prompt);
        const score = parseJudgeScore(reply.text);
        return { model: modelId, score, tokens: reply.totalTokens, ...(score === null ? { error: "unreadable score" } : {}) };
      } catch (err) {
        // Bedrock not configured is the caller's problem to report, not a judge's opinion.
        if ((err as { code?: string }).code === "bedrock_not_configured") throw err;
        return { model: modelId, score: null, tokens: 0, error: (err as Error).message.slice(0, 200) };
      }
    }),
  );
  const { consensus, spread, uncertain } = judgeConsensus(
    answers.map((a) => a.score),
    config.maxSpread,
  );
  const score = consensus ?? 0;
  const passed = !uncertain && score >= check.passAt;
  return {
    type: "judge",
    passed,
    score,
    judges: answers.map(({ model, score, error }) => ({ model, score, ...(error ? { error } : {}) })),
    spread: spread ?? undefined,
    uncertain,
    ...(uncertain
      ? { detail: spread === null || spread <= config.maxSpread ? "too few judges answered" : `judges disagree by ${spread.toFixed(2)} (limit ${config.maxSpread})` }
      : {}),
    feedback: judgeFeedback(check, consensus, passed, uncertain),
    tokens: answers.reduce((n, a) => n + a.tokens, 0),
  };
}

/** The judges' verdict in one line, with the rubric, so a rewriting model knows what was asked. */
export function judgeFeedback(check: Pick<Extract<Check, { type: "judge" }>, "rubric" | "passAt" | "path">, consensus: number | null, passed: boolean, uncertain: boolean): string {
  const rubric = check.rubric.length > 300 ? `${check.rubric.slice(0, 297)}...` : check.rubric;
  const on = `${check.path ? `${check.path} ` : ""}against the rubric ${JSON.stringify(rubric)}`;
  if (consensus === null) return `no judge could score ${on}`;
  const verdict = uncertain ? "uncertain, not counted" : passed ? "passes" : "fails";
  return `judges scored ${consensus.toFixed(2)} ${on} (passes at ${check.passAt}): ${verdict}`;
}
