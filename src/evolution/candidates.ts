import { and, asc, eq, isNotNull } from "drizzle-orm";
import type { CaseResult } from "../evaluation/score";
import { canonicalJson, utf8Length } from "../registry/canonical";
import { MAX_SPEC_BYTES, type AgentSpec } from "../registry/spec";
import type { Db } from "../registry/store";
import type { Operator } from "./breed";
import type { SearchOperator } from "./search";

/** How a candidate came to be: a seed, the numeric search's operators, the classic ones, or a model's rewrite or merge. */
export type CandidateOperator = Operator | SearchOperator | "merge:model";
import { genomeHash } from "./operators";
import { evolutionCandidates, evolutionRuns, type CandidateCase, type CandidateRow, type EvolutionRunRow } from "./schema";

/** Candidate ids follow from their place in the run, so a replayed Workflow step writes the same rows. */
export const candidateIdOf = (runId: string, generation: number, slot: number) => `${runId}.g${generation}.s${slot}`;

/** What a rewrite needs to see of a case output; longer outputs are cut. */
const OUTPUT_KEEP_CHARS = 600;

export const compactCases = (results: readonly CaseResult[]): CandidateCase[] =>
  results.map((r) => {
    const failed = r.checks.find((c) => !c.passed);
    const error = r.error ? `${r.error.code}: ${r.error.detail}` : failed?.detail;
    const output = r.output === undefined ? undefined : r.output.length > OUTPUT_KEEP_CHARS ? `${r.output.slice(0, OUTPUT_KEEP_CHARS)}…` : r.output;
    return {
      caseId: r.caseId,
      score: r.score,
      passed: r.passed,
      uncertain: r.uncertain,
      status: r.status,
      durationMs: Math.round(r.durationMs),
      tokens: r.tokens,
      limitViolation: r.limitViolation,
      ...(error ? { error: error.slice(0, 300) } : {}),
      ...(output !== undefined ? { output } : {}),
      feedback: r.checks.map((c) => c.feedback),
    };
  });

/** A new candidate row for a spec; `dropped` rows say why they will not be evaluated. */
export async function candidateRow(
  run: Pick<EvolutionRunRow, "id" | "agentId">,
  at: { generation: number; slot: number },
  spec: AgentSpec,
  origin: { operator: CandidateOperator; parents: string[]; sourceVersion?: string | null },
  now: number,
): Promise<CandidateRow> {
  const canonical = canonicalJson(spec);
  return {
    id: candidateIdOf(run.id, at.generation, at.slot),
    runId: run.id,
    agentId: run.agentId,
    generation: at.generation,
    slotIndex: at.slot,
    genomeHash: await genomeHash(spec),
    spec: canonical,
    sizeBytes: utf8Length(canonical),
    parents: origin.parents,
    operator: origin.operator,
    sourceVersion: origin.sourceVersion ?? null,
    status: "pending",
    trainScore: null,
    heldOutScore: null,
    score: null,
    cost: null,
    cases: null,
    reusedFrom: null,
    kept: null,
    reason: null,
    gate: null,
    version: null,
    createdAt: now,
    evaluatedAt: null,
  };
}

export const dropRow = (row: CandidateRow, reason: string): CandidateRow => ({ ...row, status: "dropped", kept: false, reason });

/**
 * Decides whether a planned row is evaluated: a genome already in the run is dropped, one over the
 * size limit too, and one evaluated on this suite by an earlier run reuses those results.
 */
export async function settleRow(d: Db, run: EvolutionRunRow, row: CandidateRow, seen: Map<string, string>, now: number): Promise<CandidateRow> {
  const twin = seen.get(row.genomeHash);
  if (twin) return dropRow(row, `duplicate of ${twin} (same content hash); not evaluated again`);
  if (row.sizeBytes > Math.min(MAX_SPEC_BYTES, run.policy.maxSizeBytes)) return dropRow(row, `spec is ${row.sizeBytes} bytes, over the limit; not evaluated`);
  seen.set(row.genomeHash, row.id);
  const earlier = await evaluatedTwin(d, run, row.genomeHash);
  if (!earlier) return row;
  // Tried before on this suite: reuse its results instead of evaluating it again.
  return {
    ...row,
    status: "evaluated",
    trainScore: earlier.trainScore,
    heldOutScore: earlier.heldOutScore,
    score: earlier.score,
    cost: earlier.cost,
    cases: earlier.cases,
    reusedFrom: earlier.id,
    evaluatedAt: now,
    version: earlier.version,
  };
}

async function evaluatedTwin(d: Db, run: EvolutionRunRow, hash: string): Promise<CandidateRow | undefined> {
  const [hit] = await d
    .select({ c: evolutionCandidates })
    .from(evolutionCandidates)
    .innerJoin(evolutionRuns, eq(evolutionRuns.id, evolutionCandidates.runId))
    .where(
      and(
        eq(evolutionCandidates.agentId, run.agentId),
        eq(evolutionCandidates.genomeHash, hash),
        eq(evolutionCandidates.status, "evaluated"),
        eq(evolutionRuns.suiteId, run.suiteId),
        isNotNull(evolutionCandidates.cases),
      ),
    )
    .orderBy(asc(evolutionCandidates.createdAt), asc(evolutionCandidates.id))
    .limit(1);
  return hit?.c;
}

/** Inserts rows in one atomic batch (one statement per row keeps each under D1's bound-parameter limit); re-inserting is a no-op. */
export async function insertRows(d: Db, rows: readonly CandidateRow[], extra: Parameters<Db["batch"]>[0][number][] = []): Promise<void> {
  const statements = [...rows.map((r) => d.insert(evolutionCandidates).values(r).onConflictDoNothing()), ...extra];
  if (statements.length) await d.batch(statements as [(typeof statements)[0], ...typeof statements]);
}

export async function runCandidates(d: Db, runId: string): Promise<CandidateRow[]> {
  return d.select().from(evolutionCandidates).where(eq(evolutionCandidates.runId, runId)).orderBy(asc(evolutionCandidates.generation), asc(evolutionCandidates.slotIndex));
}

export const specOf = (row: Pick<CandidateRow, "spec">) => JSON.parse(row.spec) as AgentSpec;
