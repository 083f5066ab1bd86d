import { and, eq } from "drizzle-orm";
import semver from "semver";
import { AppError, isUniqueViolation } from "../errors";
import { newId } from "../ids";
import { candidateVersions, reachableEdges, refuseCycles, resolveDependencies, type ResolvedDependency } from "./dependencies";
import { registryCommits } from "./group-commit";
import { writing } from "./read-cache";
import { agentVersions, agents, type AgentRow, type AgentVersionRow } from "./schema";
import { sizeSpec, versionSortKey, type AgentSpec, type SizedSpec } from "./spec";
import { type Db, findVersion } from "./store";
import { insertAgent, insertChannel, insertDeployment, insertEdges, insertVersion, updateAgentAfterPublish } from "./writes";

/** Registering agents and publishing versions: each a checked write of immutable version rows, in one D1 batch. */

export interface PublishResult {
  created: boolean;
  agent: AgentRow;
  version: AgentVersionRow;
}

function versionRow(agentId: string, sized: SizedSpec, actor: string, now: number, lineage?: { parents: string[]; operator: string }): AgentVersionRow {
  return {
    id: newId("ver", now),
    agentId,
    version: sized.spec.version,
    sortKey: versionSortKey(sized.spec.version),
    spec: sized.canonical,
    sizeBytes: sized.sizeBytes,
    contentHash: sized.contentHash,
    createdAt: now,
    createdBy: actor,
    score: null,
    scoredAt: null,
    parents: lineage?.parents ?? null,
    operator: lineage?.operator ?? null,
  };
}

/** Same version again: identical content is idempotent, different content is a conflict. */
function sameVersionOutcome(agent: AgentRow, existing: AgentVersionRow, sized: SizedSpec): PublishResult {
  if (existing.contentHash !== sized.contentHash) {
    throw new AppError(
      "conflict",
      `${agent.name}@${existing.version} already exists with different content (hash ${existing.contentHash}); versions are immutable, publish a new version.`,
    );
  }
  return { created: false, agent, version: existing };
}

/**
 * Registers a new agent with its first version, pointing `live` at it. One D1 round trip when the spec
 * has no dependencies: the insert itself checks the name is free (a unique violation falls back to the
 * existing agent's answer). With dependencies, one read batch first: the name and the candidates.
 * A new name cannot close a cycle: nothing registered can depend on a name that has no versions.
 */
export async function createAgent(db: Db, spec: AgentSpec, actor: string): Promise<PublishResult> {
  const sized = await sizeSpec(spec);
  let deps: ResolvedDependency[] = [];
  if (spec.dependencies.length) {
    const [[existing], candidates] = await db.batch([db.select().from(agents).where(eq(agents.name, spec.name)).limit(1), candidateVersions(db, spec)]);
    if (existing) return publishToExisting(db, existing, sized, actor, "create");
    deps = resolveDependencies(spec, candidates);
  }
  const now = Date.now();
  const agent: AgentRow = {
    id: newId("agt", now),
    name: spec.name,
    description: spec.description,
    kind: spec.kind,
    capabilities: spec.capabilities,
    latestVersion: spec.version,
    retired: false,
    createdAt: now,
    updatedAt: now,
  };
  const version = versionRow(agent.id, sized, actor, now);
  try {
    const d1 = db.$client;
    await writing(() =>
      registryCommits.commit(d1, [
        insertAgent(agent),
        insertVersion(version),
        ...insertEdges(version.id, deps),
        insertChannel({ agentId: agent.id, channel: "live", version: spec.version, updatedAt: now, updatedBy: actor }),
        insertDeployment({ id: newId("dep", now), agentId: agent.id, channel: "live", fromVersion: null, toVersion: spec.version, actor, reason: "first version", at: now }),
      ]),
    );
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    // The name is taken (registered before, or by a concurrent create): answer as the existing agent does.
    const [winner] = await db.select().from(agents).where(eq(agents.name, spec.name)).limit(1);
    if (!winner) throw err;
    return publishToExisting(db, winner, sized, actor, "create");
  }
  return { created: true, agent, version };
}

/** Publishes a new immutable version of an existing agent. */
export async function publishVersion(db: Db, agent: AgentRow, spec: AgentSpec, actor: string, lineage?: { parents: string[]; operator: string }): Promise<PublishResult> {
  if (spec.name !== agent.name) {
    throw new AppError("validation_failed", `The spec names ${spec.name} but this is agent ${agent.name}.`, {
      errors: [{ path: "name", message: `must be ${agent.name}` }],
    });
  }
  return publishToExisting(db, agent, await sizeSpec(spec), actor, "publish", lineage);
}

async function publishToExisting(
  db: Db,
  agent: AgentRow,
  sized: SizedSpec,
  actor: string,
  mode: "create" | "publish",
  lineage?: { parents: string[]; operator: string },
): Promise<PublishResult> {
  // Everything the checks need in one round trip: the version if it exists, the dependency candidates, the graph below them.
  const hasDeps = sized.spec.dependencies.length > 0;
  const sameVersion = db
    .select()
    .from(agentVersions)
    .where(and(eq(agentVersions.agentId, agent.id), eq(agentVersions.version, sized.spec.version)))
    .limit(1);
  const [[existing], candidates, edges] = hasDeps ? await db.batch([sameVersion, candidateVersions(db, sized.spec), reachableEdges(db, sized.spec)]) : [await sameVersion, [], []];
  if (existing) return sameVersionOutcome(agent, existing, sized);
  if (mode === "create") {
    throw new AppError("conflict", `An agent named ${agent.name} already exists; publish new versions with PUT /api/v1/agents/${agent.id}.`);
  }
  if (agent.retired) throw new AppError("not_found", `No agent ${agent.name}.`);
  const deps = resolveDependencies(sized.spec, candidates);
  refuseCycles(agent.name, deps, edges);
  const now = Date.now();
  const version = versionRow(agent.id, sized, actor, now, lineage);
  const isLatest = semver.gt(sized.spec.version, agent.latestVersion);
  const agentUpdate = isLatest
    ? { latestVersion: sized.spec.version, kind: sized.spec.kind, capabilities: sized.spec.capabilities, description: sized.spec.description, updatedAt: now }
    : { updatedAt: now };
  try {
    const d1 = db.$client;
    await writing(() => registryCommits.commit(d1, [insertVersion(version), ...insertEdges(version.id, deps), updateAgentAfterPublish(agent.id, agentUpdate)]));
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    // A concurrent publish of the same version won; exactly one write stands.
    const winner = await findVersion(db, agent.id, sized.spec.version);
    if (!winner) throw err;
    return sameVersionOutcome(agent, winner, sized);
  }
  return { created: true, agent: { ...agent, ...agentUpdate }, version };
}
