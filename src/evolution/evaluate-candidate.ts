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
import { evolutionCandidates, evolutionRuns, type CandidateCase, type CandidateRow, type EvolutionRunRow } from "./schema";
import { DEFAULT_SCREEN, passesScreen, screeningCases } from "./screen";

export interface ScreenOutcome {
  /** Whether the child may go on to the full evaluation. */
  pass: boolean;
  /** Its minibatch mean minus its parent's on the same cases (0 when it was not screened). */
  gain: number;
}

const BUDGET_EXHAUSTED = "budget exhausted (evaluations or tokens); not evaluated";

/** Case runs are reserved before they are spent, so parallel evaluations never overrun the budget. */
async function reserve(d: Db, run: EvolutionRunRow, n: number): Promise<boolean> {
  const reserved = await d
    .update(evolutionRuns)
    .set({ evaluationsUsed: sql`${evolutionRuns.evaluationsUsed} + ${n}`, updatedAt: Date.now() })
    .where(
      and(
        eq(evolutionRuns.id, run.id),
        sql`${evolutionRuns.evaluationsUsed} + ${n} <= ${run.policy.budget.maxEvaluations}`,
        sql`${evolutionRuns.tokensUsed} <= ${run.policy.budget.maxTokens}`,
      ),
    )
    .returning({ id: evolutionRuns.id });
  return reserved.length > 0;
}

export const scoresOf = (cases: readonly Pick<CandidateCase, "caseId" | "score">[]) => Object.fromEntries(cases.map((c) => [c.caseId, c.score]));

/** A screened child's minibatch gain over its parent: the cases it ran are the minibatch. */
export function screenGain(child: Pick<CandidateRow, "cases">, parent: Pick<CandidateRow, "cases"> | undefined): number {
  if (!child.cases?.length || !parent?.cases) return 0;
  const verdict = passesScreen(
    scoresOf(child.cases),
    scoresOf(parent.cases),
    child.cases.map((c) => c.caseId),
  );
  return verdict.child - verdict.parent;
}

async function runCases(env: Env, run: EvolutionRunRow, candidate: CandidateRow, suite: Suite, caseIds: ReadonlySet<string>): Promise<CaseResult[]> {
  const spec = agentSpecSchema.parse(JSON.parse(candidate.spec));
  const cases = suite.cases.filter((c) => caseIds.has(c.id));
  const hasJudges = cases.some((c) => c.checks.some((k) => k.type === "judge"));
  const runner = sandboxRunner(env, { actor: `evolution:${run.id}`, agentId: run.agentId });
  return runSuite(spec, { ...suite, cases }, runner, hasJudges ? { judge: bedrockJudge(env) } : {});
}

async function load(d: Db, runId: string, candidateId: string) {
  const run = await getRun(d, runId);
  const [candidate] = await d
    .select()
    .from(evolutionCandidates)
    .where(and(eq(evolutionCandidates.id, candidateId), eq(evolutionCandidates.runId, runId)));
  return { run, candidate };
}

/** The parent a child is screened against: its first parent, when that one has per-case results. */
export async function screeningParent(d: Db, candidate: Pick<CandidateRow, "parents" | "operator">): Promise<CandidateRow | undefined> {
  const parentId = candidate.parents[0];
  if (!parentId || candidate.operator === "seed") return undefined;
  const [parent] = await d.select().from(evolutionCandidates).where(eq(evolutionCandidates.id, parentId)).limit(1);
  return parent?.cases ? parent : undefined;
}

/** Settles a candidate still pending (a replay finds it settled and changes nothing) and bumps the run's counters in the same batch. */
async function settle(d: Db, runId: string, candidateId: string, update: Partial<CandidateRow>, bumps: { tokens?: number; screenedOut?: number; saved?: number } = {}) {
  await d.batch([
    d
      .update(evolutionCandidates)
      .set(update)
      .where(and(eq(evolutionCandidates.id, candidateId), eq(evolutionCandidates.status, "pending"))),
    d
      .update(evolutionRuns)
      .set({
        tokensUsed: sql`${evolutionRuns.tokensUsed} + ${bumps.tokens ?? 0}`,
        screenedOut: sql`${evolutionRuns.screenedOut} + ${bumps.screenedOut ?? 0}`,
        evaluationsSaved: sql`${evolutionRuns.evaluationsSaved} + ${bumps.saved ?? 0}`,
        updatedAt: Date.now(),
      })
      .where(eq(evolutionRuns.id, runId)),
  ]);
}

/**
 * Minibatch screening of one pending child: it runs the cases its parent failed plus a seeded sample
 * of the parent's other training cases (one minibatch per parent and generation, so siblings compare
 * fairly). Worse than its parent there, it is dropped and its full evaluation saved; otherwise its
 * minibatch results stay on the row and the full evaluation only runs the other cases.
 */
export async function screenCandidate(env: Env, runId: string, candidateId: string): Promise<ScreenOutcome> {
  const d = registryDb(env.DB);
  const { run, candidate } = await load(d, runId, candidateId);
  if (candidate?.status !== "pending") return { pass: candidate?.status === "pending", gain: 0 };
  const parent = run.policy.screening ? await screeningParent(d, candidate) : undefined;
  if (!parent) return { pass: true, gain: 0 };
  if (candidate.cases) return { pass: true, gain: screenGain(candidate, parent) };
  const suite = await loadSuite(d, run);
  const split = splitCases(suite.cases.map((c) => c.id));
  const parentTrain = parent.cases!.filter((c) => split.train.has(c.caseId) && !c.uncertain);
  const batch = screeningCases(scoresOf(parentTrain), [...split.train], DEFAULT_SCREEN, seededRng(`${run.seed}:${candidate.generation}:screen:${parent.genomeHash}`));
  if (!(await reserve(d, run, batch.length))) {
    await settle(d, runId, candidateId, { status: "dropped", kept: false, reason: BUDGET_EXHAUSTED, evaluatedAt: Date.now() });
    return { pass: false, gain: 0 };
  }
  const results = await runCases(env, run, candidate, suite, new Set(batch));
  const verdict = passesScreen(scoresOf(results), scoresOf(parent.cases!), batch);
  const gain = verdict.child - verdict.parent;
  const tokens = results.reduce((n, r) => n + r.tokens, 0);
  const saved = suite.cases.length - batch.length;
  const minibatch = `${verdict.child.toFixed(3)} vs parent ${verdict.parent.toFixed(3)} on a minibatch of ${batch.length} training cases`;
  if (verdict.pass) {
    await settle(d, runId, candidateId, { cases: compactCases(results), reason: `passed screening: ${minibatch}` }, { tokens });
  } else {
    const reason = `screened out: ${minibatch}; ${saved} case runs of a full evaluation saved`;
    await settle(d, runId, candidateId, { status: "dropped", kept: false, cases: compactCases(results), reason, evaluatedAt: Date.now() }, { tokens, screenedOut: 1, saved });
  }
  return { pass: verdict.pass, gain };
}

/** Drops screened children that lost their places to siblings that gained more on their minibatches, in one batch. */
export async function passOver(env: Env, runId: string, rows: readonly CandidateRow[], caseCount: number, detail: string): Promise<void> {
  if (!rows.length) return;
  const d = registryDb(env.DB);
  const now = Date.now();
  const saved = rows.reduce((n, r) => n + caseCount - (r.cases?.length ?? 0), 0);
  const drops = rows.map((r) =>
    d
      .update(evolutionCandidates)
      .set({ status: "dropped", kept: false, reason: `${r.reason ?? "passed screening"}; not fully evaluated: ${detail}`, evaluatedAt: now })
      .where(and(eq(evolutionCandidates.id, r.id), eq(evolutionCandidates.status, "pending"))),
  );
  const counters = d
    .update(evolutionRuns)
    .set({ screenedOut: sql`${evolutionRuns.screenedOut} + ${rows.length}`, evaluationsSaved: sql`${evolutionRuns.evaluationsSaved} + ${saved}`, updatedAt: now })
    .where(eq(evolutionRuns.id, runId));
  await d.batch([counters, ...drops]);
}

/**
 * The full evaluation of a pending candidate: every case its screening did not already run. One
 * Workflow step: a step that succeeded is never run again, and a retried one finds the candidate
 * still pending and runs its remaining cases again.
 */
export async function evaluateCandidate(env: Env, runId: string, candidateId: string): Promise<{ status: "evaluated" | "dropped"; trainScore: number | null }> {
  const d = registryDb(env.DB);
  const { run, candidate } = await load(d, runId, candidateId);
  if (!candidate) return { status: "dropped", trainScore: null };
  if (candidate.status !== "pending") return { status: candidate.status === "evaluated" ? "evaluated" : "dropped", trainScore: candidate.trainScore };
  const suite = await loadSuite(d, run);
  const all = suite.cases.map((c) => c.id);
  const done = new Map((candidate.cases ?? []).map((c) => [c.caseId, c]));
  const rest = new Set(all.filter((id) => !done.has(id)));
  if (!(await reserve(d, run, rest.size))) {
    await settle(d, runId, candidateId, { status: "dropped", kept: false, reason: BUDGET_EXHAUSTED, evaluatedAt: Date.now() });
    return { status: "dropped", trainScore: null };
  }
  let more: CaseResult[];
  try {
    more = await runCases(env, run, candidate, suite, rest);
  } catch (err) {
    await settle(d, runId, candidateId, { status: "dropped", kept: false, reason: `evaluation failed: ${(err as Error).message.slice(0, 300)}`, evaluatedAt: Date.now() });
    return { status: "dropped", trainScore: null };
  }
  const fresh = new Map(compactCases(more).map((c) => [c.caseId, c]));
  const cases = all.map((id) => (fresh.get(id) ?? done.get(id))!);
  const summary = summarize(
    suite,
    cases.map(({ error: _error, feedback: _feedback, ...c }) => ({ ...c, checks: [] })),
  );
  const tokens = more.reduce((n, r) => n + r.tokens, 0);
  await settle(
    d,
    runId,
    candidateId,
    {
      status: "evaluated",
      trainScore: summary.trainScore,
      heldOutScore: summary.heldOutScore,
      score: summary.score,
      cost: summary.tokens / Math.max(1, all.length),
      cases,
      evaluatedAt: Date.now(),
    },
    { tokens },
  );
  return { status: "evaluated", trainScore: summary.trainScore };
}
