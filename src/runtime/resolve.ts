import { and, eq, sql } from "drizzle-orm";
import type { AgentSpec } from "../registry/spec";
import { agentVersions, agents, channels } from "../registry/schema";
import { resolveAgentRef, type Db } from "../registry/store";

export interface RunnableVersion {
  agentId: string;
  spec: AgentSpec;
  contentHash: string;
}

const REF = /^([a-z][a-z0-9-]{0,62})(?:@([^#]+)|#([a-z0-9-]+))?$/;

/**
 * The hot path of every run: resolves `name`, `name@version` or `name#channel` in one query
 * (the registry's resolver takes three). When nothing matches, the registry's resolver runs to
 * raise its precise error (unknown agent, channel or version), so both agree on every answer.
 */
export async function resolveRunnable(db: Db, ref: string): Promise<RunnableVersion> {
  const match = REF.exec(ref);
  if (match) {
    const [, name, version, channel] = match as unknown as [string, string, string | undefined, string | undefined];
    const wanted = version ? sql`${version}` : channel ? sql`${channels.version}` : sql`coalesce(${channels.version}, ${agents.latestVersion})`;
    const [row] = await db
      .select({ agentId: agents.id, spec: agentVersions.spec, contentHash: agentVersions.contentHash })
      .from(agents)
      .leftJoin(channels, and(eq(channels.agentId, agents.id), eq(channels.channel, channel ?? "live")))
      .innerJoin(agentVersions, and(eq(agentVersions.agentId, agents.id), sql`${agentVersions.version} = ${wanted}`))
      .where(and(eq(agents.name, name), eq(agents.retired, false)))
      .limit(1);
    if (row) return { agentId: row.agentId, spec: JSON.parse(row.spec) as AgentSpec, contentHash: row.contentHash };
  }
  const { agent, version } = await resolveAgentRef(db, ref);
  return { agentId: agent.id, spec: version.spec, contentHash: version.contentHash };
}
