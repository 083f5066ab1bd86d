import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * A version moved towards live by evolution: to canary first (automatically when the gate passed,
 * or after a person approved it), then to live or back out, judged on live results.
 */
export const promotions = sqliteTable(
  "promotions",
  {
    id: text("id").primaryKey(),
    agentId: text("agent_id").notNull(),
    version: text("version").notNull(),
    /** The live version when the canary started: what it is compared with, and what a rollback keeps. */
    previousLive: text("previous_live").notNull(),
    runId: text("run_id"),
    candidateId: text("candidate_id"),
    mode: text("mode").notNull(), // auto | approved
    status: text("status").notNull(), // canary | live | rolled_back | superseded
    canaryWindow: integer("canary_window").notNull(),
    /** When the canary started taking live runs; only runs after it count. */
    canarySince: integer("canary_since").notNull(),
    detail: text("detail"),
    createdAt: integer("created_at").notNull(),
    decidedAt: integer("decided_at"),
  },
  (t) => [index("promotions_agent").on(t.agentId, t.createdAt), index("promotions_status").on(t.status)],
);

export type PromotionRow = typeof promotions.$inferSelect;
