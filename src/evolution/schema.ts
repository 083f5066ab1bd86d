import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { CaseResult } from "../evaluation/score";
import type { GateVerdict } from "./gate";
import type { EvolutionPolicy } from "./policy";
import type { EsState } from "./strategy";

/** What a run carries of its numeric search between generations and into the agent's next run. */
export interface SearchState {
  es: EsState;
}

export const evolutionPolicies = sqliteTable("evolution_policies", {
  agentId: text("agent_id").primaryKey(),
  suiteId: text("suite_id").notNull(),
  policy: text("policy", { mode: "json" }).$type<EvolutionPolicy>().notNull(),
  enabled: integer("enabled", { mode: "boolean" }).notNull(),
  updatedAt: integer("updated_at").notNull(),
  updatedBy: text("updated_by").notNull(),
});

export interface RunOutcome {
  champion?: string;
  promoted?: string;
  approval?: string;
  decision?: "pass" | "approval" | "blocked" | "no-improvement";
  detail: string;
}

export const evolutionRuns = sqliteTable(
  "evolution_runs",
  {
    id: text("id").primaryKey(),
    agentId: text("agent_id").notNull(),
    /** `cron:<scheduled time>` or `manual:<run id>`: one run per agent per slot. */
    slot: text("slot").notNull(),
    trigger: text("trigger").notNull(),
    status: text("status").notNull(),
    seed: integer("seed").notNull(),
    /** The generation being evaluated; generations below it are complete. */
    generation: integer("generation").notNull(),
    generations: integer("generations").notNull(),
    baseVersion: text("base_version").notNull(),
    suiteId: text("suite_id").notNull(),
    policy: text("policy", { mode: "json" }).$type<EvolutionPolicy>().notNull(),
    evaluationsUsed: integer("evaluations_used").notNull().default(0),
    tokensUsed: integer("tokens_used").notNull().default(0),
    outcome: text("outcome", { mode: "json" }).$type<RunOutcome>(),
    error: text("error"),
    createdAt: integer("created_at").notNull(),
    createdBy: text("created_by").notNull(),
    /** Last progress (each checkpointed step of the run's Workflow touches it). */
    updatedAt: integer("updated_at").notNull().default(0),
    /** The adaptive search's state after the last completed generation; the next run continues from it. */
    searchState: text("search_state", { mode: "json" }).$type<SearchState>(),
    /** Children that minibatch screening kept from a full evaluation, and the case runs that saved. */
    screenedOut: integer("screened_out").notNull().default(0),
    evaluationsSaved: integer("evaluations_saved").notNull().default(0),
    finishedAt: integer("finished_at"),
    /** W3C trace id of the request or cron tick that started the run (migration 0013). */
    traceId: text("trace_id"),
  },
  (t) => [uniqueIndex("evolution_runs_slot").on(t.agentId, t.slot), index("evolution_runs_agent").on(t.agentId, t.createdAt), index("evolution_runs_by_trace").on(t.traceId)],
);

export const evolutionGenerations = sqliteTable(
  "evolution_generations",
  {
    runId: text("run_id").notNull(),
    generation: integer("generation").notNull(),
    best: real("best").notNull(),
    median: real("median").notNull(),
    worst: real("worst").notNull(),
    evaluated: integer("evaluated").notNull(),
    survivors: text("survivors", { mode: "json" }).$type<string[]>().notNull(),
    completedAt: integer("completed_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.generation] })],
);

/**
 * The compact per-case record a candidate keeps (the evaluation tables keep full detail): enough
 * for selection, the gate, and a reflective rewrite (output, error and one feedback line per check).
 */
export type CandidateCase = Pick<CaseResult, "caseId" | "score" | "passed" | "uncertain" | "status" | "durationMs" | "tokens" | "limitViolation"> & {
  error?: string;
  output?: string;
  feedback?: string[];
};

export const evolutionCandidates = sqliteTable(
  "evolution_candidates",
  {
    id: text("id").primaryKey(),
    runId: text("run_id").notNull(),
    agentId: text("agent_id").notNull(),
    generation: integer("generation").notNull(),
    slotIndex: integer("slot_index").notNull(),
    genomeHash: text("genome_hash").notNull(),
    spec: text("spec").notNull(),
    sizeBytes: integer("size_bytes").notNull(),
    /** Candidate ids of the parents (seeds name the version they came from in `sourceVersion`). */
    parents: text("parents", { mode: "json" }).$type<string[]>().notNull(),
    operator: text("operator").notNull(),
    sourceVersion: text("source_version"),
    /** pending → evaluated | dropped (screened out, over budget, failed, duplicate or too large) */
    status: text("status").notNull(),
    trainScore: real("train_score"),
    heldOutScore: real("held_out_score"),
    score: real("score"),
    cost: real("cost"),
    cases: text("cases", { mode: "json" }).$type<CandidateCase[]>(),
    reusedFrom: text("reused_from"),
    kept: integer("kept", { mode: "boolean" }),
    reason: text("reason"),
    gate: text("gate", { mode: "json" }).$type<GateVerdict>(),
    version: text("version"),
    createdAt: integer("created_at").notNull(),
    evaluatedAt: integer("evaluated_at"),
  },
  (t) => [
    uniqueIndex("evolution_candidates_slot").on(t.runId, t.generation, t.slotIndex),
    index("evolution_candidates_genome").on(t.agentId, t.genomeHash),
    index("evolution_candidates_run").on(t.runId, t.generation),
  ],
);

export const evolutionApprovals = sqliteTable(
  "evolution_approvals",
  {
    id: text("id").primaryKey(),
    agentId: text("agent_id").notNull(),
    runId: text("run_id").notNull(),
    candidateId: text("candidate_id").notNull(),
    version: text("version").notNull(),
    reasons: text("reasons", { mode: "json" }).$type<string[]>().notNull(),
    status: text("status").notNull(),
    createdAt: integer("created_at").notNull(),
    decidedAt: integer("decided_at"),
    decidedBy: text("decided_by"),
    note: text("note"),
  },
  (t) => [uniqueIndex("evolution_approvals_candidate").on(t.candidateId), index("evolution_approvals_status").on(t.status, t.createdAt)],
);

export type EvolutionRunRow = typeof evolutionRuns.$inferSelect;
export type CandidateRow = typeof evolutionCandidates.$inferSelect;
export type ApprovalRow = typeof evolutionApprovals.$inferSelect;
