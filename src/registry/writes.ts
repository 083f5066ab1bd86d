import type { ResolvedDependency } from "./dependencies";
import type { Statement } from "./group-commit";
import type { AgentRow, AgentVersionRow } from "./schema";

/**
 * The registry's publishing writes (a new agent, a new version) as plain SQL with its values, prepared by
 * whichever request sends them (group-commit.ts). Not drizzle: its query building cost ~0.17 ms of CPU per
 * registration batch (measured in isolation), on the hot path of POST /agents. Values are encoded as schema.ts declares the columns (JSON text, booleans as 0/1), so
 * drizzle reads the rows back unchanged (test/registry-writes.test.ts).
 */

const INSERT_AGENT = "INSERT INTO agents (id, name, description, kind, capabilities, latest_version, retired, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
const INSERT_VERSION =
  "INSERT INTO agent_versions (id, agent_id, version, sort_key, spec, size_bytes, content_hash, created_at, created_by, score, scored_at, parents, operator) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const INSERT_EDGE = "INSERT INTO dependency_edges (version_id, depends_on_name, range, resolved_version) VALUES (?, ?, ?, ?)";
const INSERT_CHANNEL = "INSERT INTO channels (agent_id, channel, version, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)";
const UPDATE_LATEST = "UPDATE agents SET latest_version = ?, kind = ?, capabilities = ?, description = ?, updated_at = ? WHERE id = ?";
const UPDATE_TOUCHED = "UPDATE agents SET updated_at = ? WHERE id = ?";
const INSERT_DEPLOYMENT = "INSERT INTO deployments (id, agent_id, channel, from_version, to_version, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

const statement = (sql: string, ...params: Statement["params"]): Statement => ({ sql, params });

export const insertAgent = (a: AgentRow): Statement =>
  statement(INSERT_AGENT, a.id, a.name, a.description, a.kind, JSON.stringify(a.capabilities), a.latestVersion, a.retired ? 1 : 0, a.createdAt, a.updatedAt);

export const insertVersion = (v: AgentVersionRow): Statement =>
  statement(
    INSERT_VERSION,
    v.id,
    v.agentId,
    v.version,
    v.sortKey,
    v.spec,
    v.sizeBytes,
    v.contentHash,
    v.createdAt,
    v.createdBy,
    v.score,
    v.scoredAt,
    v.parents === null ? null : JSON.stringify(v.parents),
    v.operator,
  );

export const insertEdges = (versionId: string, deps: readonly ResolvedDependency[]): Statement[] => deps.map((d) => statement(INSERT_EDGE, versionId, d.name, d.range, d.version));

/** A new channel row; moving an existing channel is moveChannel's upsert. */
export const insertChannel = (c: { agentId: string; channel: string; version: string; updatedAt: number; updatedBy: string }): Statement =>
  statement(INSERT_CHANNEL, c.agentId, c.channel, c.version, c.updatedAt, c.updatedBy);

export const insertDeployment = (d: {
  id: string;
  agentId: string;
  channel: string;
  fromVersion: string | null;
  toVersion: string;
  actor: string;
  reason: string | null;
  at: number;
}): Statement => statement(INSERT_DEPLOYMENT, d.id, d.agentId, d.channel, d.fromVersion, d.toVersion, d.actor, d.reason, d.at);

/** After a publish: a newer version brings its kind, capabilities and description to the agent; an older one only the time. */
export const updateAgentAfterPublish = (
  agentId: string,
  u: { updatedAt: number } | { latestVersion: string; kind: string; capabilities: string[]; description: string; updatedAt: number },
): Statement =>
  "latestVersion" in u
    ? statement(UPDATE_LATEST, u.latestVersion, u.kind, JSON.stringify(u.capabilities), u.description, u.updatedAt, agentId)
    : statement(UPDATE_TOUCHED, u.updatedAt, agentId);
