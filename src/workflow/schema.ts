import { integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Workflow definitions, versioned: each stored change of a name is a new immutable version 1, 2, 3… */
export const workflows = sqliteTable(
  "workflows",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    version: integer("version").notNull(),
    /** Canonical JSON of the validated definition. */
    definition: text("definition").notNull(),
    contentHash: text("content_hash").notNull(),
    stepCount: integer("step_count").notNull(),
    createdAt: integer("created_at").notNull(),
    createdBy: text("created_by").notNull(),
  },
  (t) => [uniqueIndex("workflows_name_version_unique").on(t.name, t.version)],
);

export type WorkflowRow = typeof workflows.$inferSelect;
