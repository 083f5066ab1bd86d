import { and, desc, eq, inArray, type SQL } from "drizzle-orm";
import { iso } from "../encoding";
import { AppError } from "../errors";
import { newId } from "../ids";
import { afterTimeId, encodeCursor } from "../registry/cursor";
import { agentVersions } from "../registry/schema";
import { setVersionScore, type Db } from "../registry/store";
import { evaluationCases, evaluations, type EvaluationRow } from "./schema";
import { isRegression, type CaseResult } from "./score";
import type { Suite } from "./suite";

/** D1 binds at most 100 parameters per statement: long `in (...)` lists go in slices. */
const chunks = <T>(items: readonly T[], size = 50): T[][] => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, i * size + size));

export interface EvaluationSummary {
  score: number;
  trainScore: number;
  heldOutScore: number;
  counted: number;
  uncertain: number;
  passed: number;
  total: number;
  tokens: number;
}

const caseRow = (evaluationId: string, c: CaseResult) => ({
  evaluationId,
  caseId: c.caseId,
  score: c.score,
  passed: c.passed,
  uncertain: c.uncertain,
  status: c.status,
  durationMs: Math.round(c.durationMs),
  tokens: c.tokens,
  limitViolation: c.limitViolation,
  detail: { checks: c.checks, ...(c.error ? { error: c.error } : {}), ...(c.output !== undefined ? { output: c.output } : {}) },
});

const EMPTY_SUMMARY: EvaluationSummary = { score: 0, trainScore: 0, heldOutScore: 0, counted: 0, uncertain: 0, passed: 0, total: 0, tokens: 0 };

/** Stores one evaluation with its per-case results in one batch, and makes its score the version's. */
export async function saveEvaluation(
  db: Db,
  e: { agentId: string; version: string; versionId?: string; suite: Suite; summary: EvaluationSummary; cases: CaseResult[]; source: string; actor: string },
): Promise<EvaluationRow> {
  const now = Date.now();
  const row: EvaluationRow = {
    id: newId("evl", now),
    agentId: e.agentId,
    version: e.version,
    suiteId: e.suite.id,
    suiteHash: e.suite.contentHash,
    ...e.summary,
    source: e.source,
    status: "completed",
    error: null,
    createdAt: now,
    createdBy: e.actor,
  };
  await db.batch([db.insert(evaluations).values(row), ...e.cases.map((c) => db.insert(evaluationCases).values(caseRow(row.id, c)))]);
  if (e.versionId) await setVersionScore(db, e.versionId, e.summary.score);
  return row;
}

/** Records an evaluation that the evaluation queue will run (long suites): status `running`, no scores yet. */
export async function createPendingEvaluation(db: Db, e: { agentId: string; version: string; suite: Suite; source: string; actor: string }): Promise<EvaluationRow> {
  const now = Date.now();
  const row: EvaluationRow = {
    id: newId("evl", now),
    agentId: e.agentId,
    version: e.version,
    suiteId: e.suite.id,
    suiteHash: e.suite.contentHash,
    ...EMPTY_SUMMARY,
    total: e.suite.cases.length,
    source: e.source,
    status: "running",
    error: null,
    createdAt: now,
    createdBy: e.actor,
  };
  await db.insert(evaluations).values(row);
  return row;
}

/**
 * Completes a pending evaluation once: the case rows and the `running → completed` update are one
 * batch, so a second delivery racing the first fails on the case keys and changes nothing.
 */
export async function completePendingEvaluation(
  db: Db,
  id: string,
  result: { versionId?: string; summary: EvaluationSummary; cases: CaseResult[] } | { error: string },
): Promise<void> {
  if ("error" in result) {
    await db
      .update(evaluations)
      .set({ status: "failed", error: result.error.slice(0, 500) })
      .where(and(eq(evaluations.id, id), eq(evaluations.status, "running")));
    return;
  }
  await db.batch([
    db
      .update(evaluations)
      .set({ ...result.summary, status: "completed" })
      .where(and(eq(evaluations.id, id), eq(evaluations.status, "running"))),
    ...result.cases.map((c) => db.insert(evaluationCases).values(caseRow(id, c))),
  ]);
  if (result.versionId) await setVersionScore(db, result.versionId, result.summary.score);
}

export async function findEvaluation(db: Db, id: string): Promise<EvaluationRow | undefined> {
  const [row] = await db.select().from(evaluations).where(eq(evaluations.id, id)).limit(1);
  return row;
}

export async function evaluationCasesOf(db: Db, evaluationIds: string[]): Promise<Map<string, CaseResult[]>> {
  const out = new Map<string, CaseResult[]>();
  const rows = (await Promise.all(chunks(evaluationIds).map((ids) => db.select().from(evaluationCases).where(inArray(evaluationCases.evaluationId, ids))))).flat();
  for (const r of rows) {
    const list = out.get(r.evaluationId) ?? [];
    list.push({
      caseId: r.caseId,
      score: r.score,
      passed: r.passed,
      uncertain: r.uncertain,
      status: r.status as CaseResult["status"],
      durationMs: r.durationMs,
      tokens: r.tokens,
      limitViolation: r.limitViolation,
      checks: r.detail.checks as CaseResult["checks"],
      ...(r.detail.error ? { error: r.detail.error } : {}),
      ...(r.detail.output !== undefined ? { output: r.detail.output } : {}),
    });
    out.set(r.evaluationId, list);
  }
  return out;
}

export async function getEvaluation(db: Db, id: string) {
  const [row] = await db.select().from(evaluations).where(eq(evaluations.id, id)).limit(1);
  if (!row) throw new AppError("not_found", `No evaluation ${id}.`);
  const cases = (await evaluationCasesOf(db, [row.id])).get(row.id) ?? [];
  return { ...evaluationView(row), cases };
}

export const evaluationView = (r: EvaluationRow) => ({
  id: r.id,
  status: r.status as "running" | "completed" | "failed",
  error: r.error,
  agentId: r.agentId,
  version: r.version,
  suiteId: r.suiteId,
  score: r.score,
  trainScore: r.trainScore,
  heldOutScore: r.heldOutScore,
  counted: r.counted,
  uncertain: r.uncertain,
  passed: r.passed,
  total: r.total,
  tokens: r.tokens,
  source: r.source,
  createdAt: iso(r.createdAt),
});

/**
 * Score history of an agent, newest first, each evaluation flagged when it is a regression: its
 * version scores significantly below its parent's latest evaluation on the same suite (paired
 * sign test over the cases, see `isRegression`). A version's parent is its lineage parent when it
 * was evolved, else the version published before it.
 */
export async function scoreHistory(db: Db, agentId: string, query: { limit: number; cursor?: string }) {
  const filters: (SQL | undefined)[] = [eq(evaluations.agentId, agentId), eq(evaluations.status, "completed")];
  filters.push(afterTimeId(query.cursor, evaluations.createdAt, evaluations.id, "desc"));
  const rows = await db
    .select()
    .from(evaluations)
    .where(and(...filters))
    .orderBy(desc(evaluations.createdAt), desc(evaluations.id))
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit);
  const versions = await db
    .select({ version: agentVersions.version, sortKey: agentVersions.sortKey, parents: agentVersions.parents })
    .from(agentVersions)
    .where(eq(agentVersions.agentId, agentId));
  const ordered = [...versions].sort((a, b) => (a.sortKey < b.sortKey ? -1 : 1));
  const parentOf = (version: string): string | undefined => {
    const v = ordered.find((x) => x.version === version);
    if (v?.parents?.length) return v.parents[0];
    const i = ordered.findIndex((x) => x.version === version);
    return i > 0 ? ordered[i - 1]!.version : undefined;
  };
  const parentVersions = [...new Set(page.map((r) => parentOf(r.version)).filter((v): v is string => !!v))];
  const parentEvals = (
    await Promise.all(
      chunks(parentVersions).map((versions) =>
        db
          .select()
          .from(evaluations)
          .where(and(eq(evaluations.agentId, agentId), eq(evaluations.status, "completed"), inArray(evaluations.version, versions))),
      ),
    )
  )
    .flat()
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
  const latestParentEval = (version: string, suiteHash: string) => parentEvals.find((e) => e.version === version && e.suiteHash === suiteHash);
  const pairs = page.map((r) => {
    const pv = parentOf(r.version);
    return { row: r, parentVersion: pv, parent: pv ? latestParentEval(pv, r.suiteHash) : undefined };
  });
  const cases = await evaluationCasesOf(db, [...new Set(pairs.flatMap((p) => (p.parent ? [p.row.id, p.parent.id] : [])))]);
  const items = pairs.map(({ row, parentVersion, parent }) => {
    const flag = parent ? isRegression({ score: row.score, cases: cases.get(row.id) }, { score: parent.score, cases: cases.get(parent.id) }) : { regression: false, pValue: null };
    return { ...evaluationView(row), parentVersion: parentVersion ?? null, parentScore: parent?.score ?? null, regression: flag.regression, pValue: flag.pValue };
  });
  const last = page[page.length - 1];
  return { items, nextCursor: rows.length > query.limit && last ? encodeCursor([last.createdAt, last.id]) : null };
}
