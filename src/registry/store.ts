import { and, asc, desc, eq, or, sql, type SQL } from "drizzle-orm";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import { AppError } from "../errors";
import { newId } from "../ids";
import type { AgentView } from "./agent-view";
import { afterTimeId, decodeCursor, type Page, toPage } from "./cursor";
import { currentGeneration } from "./generation";
import { cached, writing } from "./read-cache";
import { agentVersions, agents, channels, deployments, type AgentRow, type AgentVersionRow } from "./schema";
import type { AgentSpec } from "./spec";
import { iso } from "../encoding";

/** Drizzle over D1, with the binding it wraps (`$client`) for the reads drizzle does not express. */
export type Db = DrizzleD1Database<Record<string, never>> & { $client: D1Database };
export const registryDb = (d1: D1Database): Db => drizzle(d1);

export interface VersionSummary {
  id: string;
  agentId: string;
  name: string;
  version: string;
  sizeBytes: number;
  contentHash: string;
  createdAt: string;
  createdBy: string;
  score: number | null;
  parents: string[] | null;
  operator: string | null;
}

export interface VersionDetail extends VersionSummary {
  spec: AgentSpec;
}

export const agentView = (row: AgentRow): AgentView => ({
  id: row.id,
  name: row.name,
  description: row.description,
  kind: row.kind,
  capabilities: row.capabilities,
  latestVersion: row.latestVersion,
  retired: row.retired,
  createdAt: iso(row.createdAt),
  updatedAt: iso(row.updatedAt),
});

const versionSummary = (row: AgentVersionRow, name: string): VersionSummary => ({
  id: row.id,
  agentId: row.agentId,
  name,
  version: row.version,
  sizeBytes: row.sizeBytes,
  contentHash: row.contentHash,
  createdAt: iso(row.createdAt),
  createdBy: row.createdBy,
  score: row.score,
  parents: row.parents ?? null,
  operator: row.operator ?? null,
});

export const versionDetail = (row: AgentVersionRow, name: string): VersionDetail => ({
  ...versionSummary(row, name),
  spec: JSON.parse(row.spec) as AgentSpec,
});

/** Finds an agent by id or by name; retired agents are found only when asked for. */
export async function findAgent(db: Db, idOrName: string, { includeRetired = false } = {}): Promise<AgentRow> {
  const [row] = await db
    .select()
    .from(agents)
    .where(or(eq(agents.id, idOrName), eq(agents.name, idOrName)))
    .limit(1);
  if (!row || (row.retired && !includeRetired)) throw new AppError("not_found", `No agent ${idOrName}.`);
  return row;
}

export async function findVersion(db: Db, agentId: string, version: string): Promise<AgentVersionRow | undefined> {
  const [row] = await db
    .select()
    .from(agentVersions)
    .where(and(eq(agentVersions.agentId, agentId), eq(agentVersions.version, version)))
    .limit(1);
  return row;
}

export async function updateDescription(db: Db, agent: AgentRow, description: string): Promise<AgentRow> {
  const now = Date.now();
  await writing(() => db.update(agents).set({ description, updatedAt: now }).where(eq(agents.id, agent.id)));
  return { ...agent, description, updatedAt: now };
}

export async function retireAgent(db: Db, agent: AgentRow): Promise<void> {
  await writing(() => db.update(agents).set({ retired: true, updatedAt: Date.now() }).where(eq(agents.id, agent.id)));
}

export interface AgentListQuery {
  limit: number;
  cursor?: string;
  capability?: string;
  kind?: string;
  q?: string;
}

export async function listAgents(db: Db, query: AgentListQuery): Promise<Page<AgentView>> {
  const filters: (SQL | undefined)[] = [eq(agents.retired, false)];
  if (query.kind) filters.push(eq(agents.kind, query.kind));
  if (query.capability) filters.push(sql`exists (select 1 from json_each(${agents.capabilities}) where value = ${query.capability})`);
  if (query.q) {
    const pattern = `%${query.q.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
    filters.push(or(sql`${agents.name} like ${pattern} escape '\\'`, sql`${agents.description} like ${pattern} escape '\\'`));
  }
  filters.push(afterTimeId(query.cursor, agents.createdAt, agents.id, "asc"));
  const rows = await db
    .select()
    .from(agents)
    .where(and(...filters))
    .orderBy(asc(agents.createdAt), asc(agents.id))
    .limit(query.limit + 1);
  return toPage(rows, query.limit, agentView, (r) => [r.createdAt, r.id]);
}

/** An agent with its channels and latest version, read in one D1 round trip (the hot path of GET /agents/{id}). */
export async function agentDetail(db: Db, idOrName: string) {
  const { generation } = await currentGeneration(db.$client);
  return cached(`agent:${idOrName}`, generation, () => readAgentDetail(db, idOrName));
}

async function readAgentDetail(db: Db, idOrName: string) {
  const match = or(eq(agents.id, idOrName), eq(agents.name, idOrName));
  const [agentRows, channelRows, latestRows] = await db.batch([
    db.select().from(agents).where(match).limit(1),
    db.select({ channel: channels.channel, version: channels.version }).from(channels).innerJoin(agents, eq(agents.id, channels.agentId)).where(match),
    db
      .select({ version: agentVersions })
      .from(agentVersions)
      .innerJoin(agents, and(eq(agents.id, agentVersions.agentId), eq(agentVersions.version, agents.latestVersion)))
      .where(match)
      .limit(1),
  ]);
  const agent = agentRows[0];
  const latest = latestRows[0]?.version;
  if (!agent || agent.retired || !latest) throw new AppError("not_found", `No agent ${idOrName}.`);
  return {
    ...agentView(agent),
    channels: Object.fromEntries(channelRows.map((r) => [r.channel, r.version])),
    latest: versionDetail(latest, agent.name),
  };
}

export async function agentChannels(db: Db, agentId: string): Promise<Record<string, string>> {
  const rows = await db.select().from(channels).where(eq(channels.agentId, agentId));
  return Object.fromEntries(rows.map((r) => [r.channel, r.version]));
}

export async function listVersions(db: Db, agent: AgentRow, limit: number, cursor?: string): Promise<Page<VersionSummary>> {
  const filters: (SQL | undefined)[] = [eq(agentVersions.agentId, agent.id)];
  if (cursor) {
    const [sortKey] = decodeCursor(cursor, ["string"]) as [string];
    filters.push(sql`${agentVersions.sortKey} < ${sortKey}`);
  }
  const rows = await db
    .select()
    .from(agentVersions)
    .where(and(...filters))
    .orderBy(desc(agentVersions.sortKey))
    .limit(limit + 1);
  return toPage(
    rows,
    limit,
    (r) => versionSummary(r, agent.name),
    (r) => [r.sortKey],
  );
}

export async function getVersion(db: Db, agent: AgentRow, version: string): Promise<VersionDetail> {
  const row = await findVersion(db, agent.id, version);
  if (!row) throw new AppError("not_found", `${agent.name} has no version ${version}.`);
  return versionDetail(row, agent.name);
}

/** Points a channel at a version and records the move in the deployment history, in one batch. */
export async function moveChannel(
  db: Db,
  agent: AgentRow,
  channel: string,
  version: string,
  actor: string,
  reason?: string,
): Promise<{ channel: string; version: string; previous: string | null; moved: boolean }> {
  if (!(await findVersion(db, agent.id, version))) throw new AppError("not_found", `${agent.name} has no version ${version}.`);
  const [current] = await db
    .select()
    .from(channels)
    .where(and(eq(channels.agentId, agent.id), eq(channels.channel, channel)));
  const previous = current?.version ?? null;
  if (previous === version) return { channel, version, previous, moved: false };
  const now = Date.now();
  await writing(() =>
    db.batch([
      db
        .insert(channels)
        .values({ agentId: agent.id, channel, version, updatedAt: now, updatedBy: actor })
        .onConflictDoUpdate({ target: [channels.agentId, channels.channel], set: { version, updatedAt: now, updatedBy: actor } }),
      db.insert(deployments).values({ id: newId("dep", now), agentId: agent.id, channel, fromVersion: previous, toVersion: version, actor, reason: reason ?? null, at: now }),
    ]),
  );
  return { channel, version, previous, moved: true };
}

export async function deploymentHistory(db: Db, agentId: string, limit = 100) {
  const rows = await db.select().from(deployments).where(eq(deployments.agentId, agentId)).orderBy(desc(deployments.at), desc(deployments.id)).limit(limit);
  return rows.map((r) => ({ ...r, at: iso(r.at) }));
}

/**
 * Resolves `name`, `name@version` or `name#channel` to a runnable version:
 * `name` alone means the `live` channel, else the latest version.
 */
export async function resolveAgentRef(db: Db, ref: string): Promise<{ agent: AgentRow; version: VersionDetail }> {
  const match = /^([a-z][a-z0-9-]{0,62})(?:@([^#]+)|#([a-z0-9-]+))?$/.exec(ref);
  if (!match)
    throw new AppError("validation_failed", `Agent reference ${ref} must be name, name@version or name#channel.`, {
      errors: [{ path: "agent", message: "invalid agent reference" }],
    });
  const [, name, version, channel] = match as unknown as [string, string, string | undefined, string | undefined];
  const agent = await findAgent(db, name);
  let wanted = version;
  if (!wanted) {
    const map = await agentChannels(db, agent.id);
    wanted = map[channel ?? "live"] ?? (channel ? undefined : agent.latestVersion);
    if (!wanted) throw new AppError("not_found", `${name} has no channel ${channel}.`);
  }
  return { agent, version: await getVersion(db, agent, wanted) };
}

export async function setVersionScore(db: Db, versionId: string, score: number): Promise<void> {
  await writing(() => db.update(agentVersions).set({ score, scoredAt: Date.now() }).where(eq(agentVersions.id, versionId)));
}
