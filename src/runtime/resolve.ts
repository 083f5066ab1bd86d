import { and, eq, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import type { AgentSpec } from "../registry/spec";
import { agentVersions, agents, channels } from "../registry/schema";
import { resolveAgentRef, type Db } from "../registry/store";

export interface RunnableVersion {
  agentId: string;
  spec: AgentSpec;
  contentHash: string;
}

const REF = /^([a-z][a-z0-9-]{0,62})(?:@([^#]+)|#([a-z0-9-]+))?$/;

const named = alias(channels, "named_channel");
const canary = alias(channels, "canary_channel");

/** Whether one run of a bare `name` goes to the canary: `percent` of them, when a canary exists. */
export const routesToCanary = (percent: number, random = Math.random()) => random * 100 < percent;

/**
 * The hot path of every run: resolves `name`, `name@version` or `name#channel` in one query
 * (the registry's resolver takes three). A bare `name` runs `live` (else the latest version),
 * or `canary` when `toCanary` is set and the agent has one: that slice of ordinary traffic is
 * what the canary's live success rate is judged on. When nothing matches, the registry's
 * resolver runs to raise its precise error (unknown agent, channel or version), so both agree.
 */
export async function resolveRunnable(db: Db, ref: string, { toCanary = false } = {}): Promise<RunnableVersion> {
  const match = REF.exec(ref);
  if (match) {
    const [, name, version, channel] = match as unknown as [string, string, string | undefined, string | undefined];
    const wanted = version
      ? sql`${version}`
      : channel
        ? sql`${named.version}`
        : toCanary
          ? sql`coalesce(${canary.version}, ${named.version}, ${agents.latestVersion})`
          : sql`coalesce(${named.version}, ${agents.latestVersion})`;
    const [row] = await db
      .select({ agentId: agents.id, spec: agentVersions.spec, contentHash: agentVersions.contentHash })
      .from(agents)
      .leftJoin(named, and(eq(named.agentId, agents.id), eq(named.channel, channel ?? "live")))
      .leftJoin(canary, and(eq(canary.agentId, agents.id), eq(canary.channel, "canary")))
      .innerJoin(agentVersions, and(eq(agentVersions.agentId, agents.id), sql`${agentVersions.version} = ${wanted}`))
      .where(and(eq(agents.name, name), eq(agents.retired, false)))
      .limit(1);
    if (row) return { agentId: row.agentId, spec: JSON.parse(row.spec) as AgentSpec, contentHash: row.contentHash };
  }
  const { agent, version } = await resolveAgentRef(db, ref);
  return { agentId: agent.id, spec: version.spec, contentHash: version.contentHash };
}
