import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const agents = sqliteTable(
  "agents",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    description: text("description").notNull().default(""),
    kind: text("kind").notNull(),
    /** Capabilities of the latest version, kept here so lists can filter without a join. */
    capabilities: text("capabilities", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    latestVersion: text("latest_version").notNull(),
    retired: integer("retired", { mode: "boolean" }).notNull().default(false),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("agents_name_unique").on(t.name), index("agents_list_order").on(t.createdAt, t.id)],
);

export const agentVersions = sqliteTable(
  "agent_versions",
  {
    id: text("id").primaryKey(),
    agentId: text("agent_id")
      .notNull()
      .references(() => agents.id),
    version: text("version").notNull(),
    /** Zero-padded major.minor.patch plus prerelease marker, so SQL can order versions. */
    sortKey: text("sort_key").notNull(),
    spec: text("spec").notNull(),
    sizeBytes: integer("size_bytes").notNull(),
    contentHash: text("content_hash").notNull(),
    createdAt: integer("created_at").notNull(),
    createdBy: text("created_by").notNull(),
    /** Evolution score in [0, 1], set by evaluation. */
    score: real("score"),
    scoredAt: integer("scored_at"),
    /** Lineage for evolved versions: parent versions and the operator that made this one. */
    parents: text("parents", { mode: "json" }).$type<string[]>(),
    operator: text("operator"),
  },
  (t) => [uniqueIndex("agent_versions_agent_version_unique").on(t.agentId, t.version), index("agent_versions_hash").on(t.agentId, t.contentHash)],
);

export const channels = sqliteTable(
  "channels",
  {
    agentId: text("agent_id")
      .notNull()
      .references(() => agents.id),
    channel: text("channel").notNull(),
    version: text("version").notNull(),
    updatedAt: integer("updated_at").notNull(),
    updatedBy: text("updated_by").notNull(),
  },
  (t) => [primaryKey({ columns: [t.agentId, t.channel] })],
);

/** Every channel move, for audit and rollback. */
export const deployments = sqliteTable(
  "deployments",
  {
    id: text("id").primaryKey(),
    agentId: text("agent_id")
      .notNull()
      .references(() => agents.id),
    channel: text("channel").notNull(),
    fromVersion: text("from_version"),
    toVersion: text("to_version").notNull(),
    actor: text("actor").notNull(),
    reason: text("reason"),
    at: integer("at").notNull(),
  },
  (t) => [index("deployments_agent").on(t.agentId, t.at)],
);

export const dependencyEdges = sqliteTable(
  "dependency_edges",
  {
    versionId: text("version_id")
      .notNull()
      .references(() => agentVersions.id),
    dependsOnName: text("depends_on_name").notNull(),
    range: text("range").notNull(),
    resolvedVersion: text("resolved_version").notNull(),
  },
  (t) => [primaryKey({ columns: [t.versionId, t.dependsOnName] })],
);

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    /** First characters of the key, shown in lists so a person can tell keys apart. */
    prefix: text("prefix").notNull(),
    hash: text("hash").notNull(),
    scopes: text("scopes", { mode: "json" }).$type<string[]>().notNull(),
    createdAt: integer("created_at").notNull(),
    createdBy: text("created_by").notNull(),
    revokedAt: integer("revoked_at"),
    /** After this instant the key is refused like a revoked one; null: never expires. */
    expiresAt: integer("expires_at"),
    /** When the key last authenticated a request, recorded at most once a minute (see RateLimiter.takeForKey). */
    lastUsedAt: integer("last_used_at"),
  },
  (t) => [uniqueIndex("api_keys_hash_unique").on(t.hash)],
);

export type AgentRow = typeof agents.$inferSelect;
export type AgentVersionRow = typeof agentVersions.$inferSelect;
