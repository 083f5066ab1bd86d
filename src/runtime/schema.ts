import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** One row per agent run: who ran what, how it ended, how long it took and what it cost. */
export const runs = sqliteTable(
  "runs",
  {
    id: text("id").primaryKey(),
    /** Null for specs run without being registered (evaluation of candidates). */
    agentId: text("agent_id"),
    agentName: text("agent_name").notNull(),
    version: text("version").notNull(),
    kind: text("kind").notNull(),
    contentHash: text("content_hash").notNull(),
    actor: text("actor").notNull(),
    source: text("source").notNull(),
    sessionId: text("session_id"),
    status: text("status", { enum: ["succeeded", "failed"] }).notNull(),
    input: text("input"),
    output: text("output"),
    errorCode: text("error_code"),
    errorType: text("error_type"),
    errorDetail: text("error_detail"),
    limitViolation: integer("limit_violation", { mode: "boolean" }).notNull().default(false),
    modelId: text("model_id"),
    stopReason: text("stop_reason"),
    inputTokens: integer("input_tokens"),
    outputTokens: integer("output_tokens"),
    totalTokens: integer("total_tokens"),
    /** Time spent waiting for Bedrock (all calls of the run, retries included), measured here. */
    modelLatencyMs: integer("model_latency_ms"),
    logs: text("logs", { mode: "json" }).$type<string[]>(),
    startedAt: integer("started_at").notNull(),
    finishedAt: integer("finished_at").notNull(),
    durationMs: integer("duration_ms").notNull(),
    /** W3C trace id of the request, task or message that caused the run. */
    traceId: text("trace_id"),
  },
  (t) => [index("runs_by_agent").on(t.agentName, t.startedAt, t.id), index("runs_by_time").on(t.startedAt, t.id), index("runs_by_trace").on(t.traceId, t.startedAt, t.id)],
);

export type RunRow = typeof runs.$inferSelect;
