import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { Member, Policy } from "./config";

/** One row per squad, for listing; the squad's Durable Object holds its tasks, runs and events. */
export const squads = sqliteTable(
  "squads",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    description: text("description").notNull().default(""),
    members: text("members", { mode: "json" }).$type<Member[]>().notNull(),
    policy: text("policy", { mode: "json" }).$type<Policy>().notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    createdBy: text("created_by").notNull(),
  },
  (t) => [index("squads_list_order").on(t.createdAt, t.id)],
);

export type SquadRow = typeof squads.$inferSelect;
