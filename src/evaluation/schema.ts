import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { JudgeConfig, SuiteCase } from "./suite";

export const suites = sqliteTable(
  "suites",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    agentId: text("agent_id").notNull(),
    description: text("description").notNull().default(""),
    judges: text("judges", { mode: "json" }).$type<JudgeConfig>(),
    cases: text("cases", { mode: "json" }).$type<SuiteCase[]>().notNull(),
    caseCount: integer("case_count").notNull(),
    contentHash: text("content_hash").notNull(),
    createdAt: integer("created_at").notNull(),
    createdBy: text("created_by").notNull(),
  },
  (t) => [uniqueIndex("suites_name_unique").on(t.name), index("suites_agent").on(t.agentId, t.createdAt)],
);

/** One scoring of one agent version on one suite. */
export const evaluations = sqliteTable(
  "evaluations",
  {
    id: text("id").primaryKey(),
    agentId: text("agent_id").notNull(),
    version: text("version").notNull(),
    suiteId: text("suite_id").notNull(),
    suiteHash: text("suite_hash").notNull(),
    score: real("score").notNull(),
    trainScore: real("train_score").notNull(),
    heldOutScore: real("held_out_score").notNull(),
    counted: integer("counted").notNull(),
    uncertain: integer("uncertain").notNull(),
    passed: integer("passed").notNull(),
    total: integer("total").notNull(),
    tokens: integer("tokens").notNull(),
    source: text("source").notNull(),
    /** running (queued for the evaluation queue) | completed | failed */
    status: text("status").notNull().default("completed"),
    error: text("error"),
    createdAt: integer("created_at").notNull(),
    createdBy: text("created_by").notNull(),
  },
  (t) => [index("evaluations_agent").on(t.agentId, t.createdAt), index("evaluations_version").on(t.agentId, t.version, t.createdAt)],
);

export interface StoredCaseDetail {
  checks: unknown[];
  error?: { code: string; detail: string };
  output?: string;
}

export const evaluationCases = sqliteTable(
  "evaluation_cases",
  {
    evaluationId: text("evaluation_id").notNull(),
    caseId: text("case_id").notNull(),
    score: real("score").notNull(),
    passed: integer("passed", { mode: "boolean" }).notNull(),
    uncertain: integer("uncertain", { mode: "boolean" }).notNull(),
    status: text("status").notNull(),
    durationMs: integer("duration_ms").notNull(),
    tokens: integer("tokens").notNull(),
    limitViolation: integer("limit_violation", { mode: "boolean" }).notNull(),
    detail: text("detail", { mode: "json" }).$type<StoredCaseDetail>().notNull(),
  },
  (t) => [primaryKey({ columns: [t.evaluationId, t.caseId] })],
);

export type SuiteRow = typeof suites.$inferSelect;
export type EvaluationRow = typeof evaluations.$inferSelect;
