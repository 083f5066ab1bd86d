import { and, eq, sql } from "drizzle-orm";
import type { Env } from "../env";
import { runSuite, summarize } from "../evaluation/evaluate";
import { bedrockJudge, sandboxRunner } from "../evaluation/runner";
import type { CaseResult } from "../evaluation/score";
import { splitCases } from "../evaluation/split";
import type { Suite } from "../evaluation/suite";
import { agentSpecSchema } from "../registry/spec";
import { registryDb, type Db } from "../registry/store";
import { compactCases } from "./candidates";
import { seededRng } from "./prng";
import { getRun, loadSuite } from "./run";
import { evolutionCandidates, evolutionRuns, type CandidateRow, type EvolutionRunRow } from "./schema";
import { DEFAULT_SCREEN, passesScreen, screeningCases } from "./screen";

export interface EvaluationOutcome {
  status: "evaluated" | "dropped";
  trainScore: number | null;
}

/** Case runs are reserved before they are spent, so parallel evaluations never overrun the budget. */
async function reserve(d: Db, run: EvolutionRunRow, n: number): Promise<boolean> {
  const reserved = await d
    .update(evolutionRuns)
    .set({ evaluationsUsed: sql`${evolutionRuns.evaluationsUsed} + ${n}`, updatedAt: Date.now() })
    .where(and(eq(evolutionRuns.id, run.id), sql`${evolutionRuns.evaluationsUsed} + ${n} <= ${run.policy.budget.maxEvaluations}`, sql`${evolutionRuns.tokensUsed} <= ${run.policy.budget.maxTokens}`))
    .returning({ id: evolutionRuns.id });
  return reserved.length > 0;
}

const scoresOf = (cases: readonly { caseId: string; score: number }[]) => Object.fromEntries(cases.map((c) => [c.caseId, c.score]));

async function runCases(env: Env, run: EvolutionRunRow, candidate: CandidateRow, suite: Suite, caseIds: ReadonlySet<string>): Promise<CaseResult[]> {
  const spec = agentSpecSchema.parse(JSON.parse(candidate.spec));
  const cases = suite.cases.filter((c) => caseIds.has(c.id));
  const hasJudges = cases.some((c) => c.checks.some((k) => k.type === "judge"));
  const runner = sandboxRunner(env, { actor: `evolution:${run.id}`, agentId: run.agentId });
  return runSuite(spec, { ...suite, cases }, runner, hasJudges ? { judge: bedrockJudge(env) } : {});
}

/** The parent a child is screened against: its first parent, when that one has per-case results. */
async function screeningParent(d: Db, candidate: CandidateRow): Promise<CandidateRow | undefined> {
  const parentId = candidate.parents[0];
  if (!parentId || candidate.operator === "seed") return undefined;
  const [parent] = await d.select().from(evolutionCandidates).where(eq(evolutionCandidates.id, parentId)).limit(1);
  return parent?.cases ? parent : undefined;
}

/**
 * Evaluates one pending candidate: first on a screening minibatch (the cases its parent failed plus
 * a seeded sample of training cases) when the policy screens, then — only when it is not worse than
 * its parent there — on every other case. Runs as one Workflow step: a step that succeeded is never
 * run again, and a retried one finds the candidate still pending and starts over.
 */
export async function evaluateCandidate(env: Env, runId: string, candidateId: string): Promise<EvaluationOutcome> {
  const d = registryDb(env.DB);
  const run = await getRun(d, runId);
  const [candidate] = await d.select().from(evolutionCandidates).where(and(eq(evolutionCandidates.id, candidateId), eq(evolutionCandidates.runId, runId)));
  if (!candidate) return { status: "dropped", trainScore: null };
  if (candidate.status !== "pending") return { status: candidate.status === "evaluated" ? "evaluated" : "dropped", trainScore: candidate.trainScore };
  const suite = await loadSuite(d, run);
  const split = splitCases(suite.cases.map((c) => c.id));
  const all = suite.cases.map((c) => c.id);
  const settle = async (update: Partial<CandidateRow>, runUpdate: Partial<Record<"screenedOut" | "evaluationsSaved", number>> = {}, tokens = 0) => {
    const bumps = {
      tokensUsed: sql`${evolutionRuns.tokensUsed} + ${tokens}`,
      screenedOut: sql`${evolutionRuns.screenedOut} + ${runUpdate.screenedOut ?? 0}`,
      evaluationsSaved: sql`${evolutionRuns.evaluationsSaved} + ${runUpdate.evaluationsSaved ?? 0}`,
      updatedAt: Date.now(),
    };
    await d.batch([
      d.update(evolutionCandidates).set({ ...update, evaluatedAt: Date.now() }).where(and(eq(evolutionCandidates.id, candidateId), eq(evolutionCandidates.status, "pending"))),
      d.update(evolutionRuns).set(bumps).where(eq(evolutionRuns.id, runId)),
    ]);
    return { status: update.status as EvaluationOutcome["status"], trainScore: update.trainScore ?? null };
  };

  let screened: CaseResult[] = [];
  const parent = run.policy.screening ? await screeningParent(d, candidate) : undefined;
  if (parent) {
    const rng = seededRng(`${run.seed}:screen:${candidate.genomeHash}`);
    const batch = screeningCases(scoresOf(parent.cases!.filter((c) => split.train.has(c.caseId))), [...split.train], DEFAULT_SCREEN, rng);
    if (!(await reserve(d, run, batch.length))) return settle({ status: "dropped", kept: false, reason: "budget exhausted (evaluations or tokens); not evaluated" });
    screened = await runCases(env, run, candidate, suite, new Set(batch));
    const verdict = passesScreen(scoresOf(screened), scoresOf(parent.cases!), batch);
    if (!verdict.pass) {
      const tokens = screened.reduce((n, r) => n + r.tokens, 0);
      return settle(
        {
          status: "dropped",
          kept: false,
          cases: compactCases(screened),
          reason: `screened out: ${verdict.child.toFixed(3)} vs parent ${verdict.parent.toFixed(3)} on a minibatch of ${batch.length} training cases; the full evaluation (${all.length - batch.length} more case runs) was saved`,
        },
        { screenedOut: 1, evaluationsSaved: all.length - batch.length },
        tokens,
      );
    }
  }
  const done = new Set(screened.map((r) => r.caseId));
  const rest = new Set(all.filter((id) => !done.has(id)));
  if (!(await reserve(d, run, rest.size))) return settle({ status: "dropped", kept: false, reason: "budget exhausted (evaluations or tokens); not evaluated" });
  try {
    const more = await runCases(env, run, candidate, suite, rest);
    const byId = new Map([...screened, ...more].map((r) => [r.caseId, r]));
    const results = all.map((id) => byId.get(id)!);
    const summary = summarize(suite, results);
    return settle(
      { status: "evaluated", trainScore: summary.trainScore, heldOutScore: summary.heldOutScore, score: summary.score, cost: summary.tokens / Math.max(1, all.length), cases: compactCases(results) },
      {},
      summary.tokens,
    );
  } catch (err) {
    return settle({ status: "dropped", kept: false, reason: `evaluation failed: ${(err as Error).message.slice(0, 300)}` });
  }
}
