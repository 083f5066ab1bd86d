import { and, asc, desc, eq, type SQL } from "drizzle-orm";
import { iso } from "../encoding";
import { afterTimeId, toPage } from "../registry/cursor";
import type { Db } from "../registry/store";
import { getRun } from "./run";
import { evolutionCandidates, evolutionGenerations, evolutionRuns, type EvolutionRunRow } from "./schema";

const runSummary = (r: EvolutionRunRow) => ({
  id: r.id,
  agentId: r.agentId,
  status: (r.status === "finishing" ? "running" : r.status) as "queued" | "running" | "completed" | "failed",
  trigger: r.trigger,
  slot: r.slot,
  seed: r.seed,
  baseVersion: r.baseVersion,
  suiteId: r.suiteId,
  generation: Math.min(r.generation, r.generations),
  generations: r.generations,
  budget: { maxEvaluations: r.policy.budget.maxEvaluations, maxTokens: r.policy.budget.maxTokens, evaluationsUsed: r.evaluationsUsed, tokensUsed: r.tokensUsed },
  screening: { screenedOut: r.screenedOut, evaluationsSaved: r.evaluationsSaved },
  outcome: r.outcome ?? null,
  error: r.error,
  createdAt: iso(r.createdAt),
  finishedAt: iso(r.finishedAt),
  traceId: r.traceId,
});

/** A run as GET /evolution/runs/{id} shows it: status, each generation's spread, every candidate and why it was kept or dropped. */
export async function runView(d: Db, runId: string) {
  const run = await getRun(d, runId);
  const generations = await d.select().from(evolutionGenerations).where(eq(evolutionGenerations.runId, runId)).orderBy(asc(evolutionGenerations.generation));
  const candidates = await d
    .select()
    .from(evolutionCandidates)
    .where(eq(evolutionCandidates.runId, runId))
    .orderBy(asc(evolutionCandidates.generation), asc(evolutionCandidates.slotIndex));
  return {
    ...runSummary(run),
    generationStats: generations.map((g) => ({ generation: g.generation, best: g.best, median: g.median, worst: g.worst, evaluated: g.evaluated, survivors: g.survivors })),
    candidates: candidates.map((c) => ({
      id: c.id,
      generation: c.generation,
      operator: c.operator,
      parents: c.parents,
      sourceVersion: c.sourceVersion,
      status: c.status,
      trainScore: c.trainScore,
      heldOutScore: c.heldOutScore,
      score: c.score,
      sizeBytes: c.sizeBytes,
      cost: c.cost,
      reusedFrom: c.reusedFrom,
      caseRuns: c.reusedFrom ? 0 : (c.cases?.length ?? 0),
      kept: c.kept,
      reason: c.reason,
      gate: c.gate ? { decision: c.gate.decision, reasons: c.gate.reasons, checks: c.gate.checks, heldOut: c.gate.heldOut } : null,
      version: c.version,
      // A candidate is bred and evaluated inside its run's trace.
      traceId: run.traceId,
    })),
  };
}

export async function listRuns(d: Db, q: { limit: number; cursor?: string; agentId?: string; status?: string; traceId?: string }) {
  const filters: (SQL | undefined)[] = [];
  if (q.traceId) filters.push(eq(evolutionRuns.traceId, q.traceId));
  if (q.agentId) filters.push(eq(evolutionRuns.agentId, q.agentId));
  if (q.status) filters.push(eq(evolutionRuns.status, q.status));
  filters.push(afterTimeId(q.cursor, evolutionRuns.createdAt, evolutionRuns.id, "desc"));
  const rows = await d
    .select()
    .from(evolutionRuns)
    .where(and(...filters))
    .orderBy(desc(evolutionRuns.createdAt), desc(evolutionRuns.id))
    .limit(q.limit + 1);
  return toPage(rows, q.limit, runSummary, (r) => [r.createdAt, r.id]);
}
