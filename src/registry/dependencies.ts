import { and, eq, inArray, sql } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import semver from "semver";
import { AppError } from "../errors";
import { agentVersions, agents } from "./schema";
import type { AgentSpec } from "./spec";

type Db = DrizzleD1Database<Record<string, never>>;

export interface ResolvedDependency {
  name: string;
  range: string;
  version: string;
}

/** One dependency edge of a registered version: `from@fromVersion` depends on `to@toVersion`. */
export interface Edge {
  from: string;
  fromVersion: string;
  to: string;
  toVersion: string;
}

export const wantedDependencies = (spec: AgentSpec) => spec.dependencies.map((d) => ({ name: d.slice(0, d.indexOf("@")), range: d.slice(d.indexOf("@") + 1) }));

const dependencyNames = (spec: AgentSpec) => [...new Set(wantedDependencies(spec).map((w) => w.name))];

/** Every registered version of the spec's dependencies (the candidates their ranges choose from). */
export const candidateVersions = (db: Db, spec: AgentSpec) =>
  db
    .select({ name: agents.name, version: agentVersions.version })
    .from(agentVersions)
    .innerJoin(agents, eq(agents.id, agentVersions.agentId))
    .where(and(inArray(agents.name, dependencyNames(spec).length ? dependencyNames(spec) : [""]), eq(agents.retired, false)));

/**
 * Every edge reachable from any version of the spec's dependencies, in one recursive query: a superset
 * of the graph below the versions their ranges resolve to, which `refuseCycles` then walks in memory.
 */
export const reachableEdges = (db: Db, spec: AgentSpec) => {
  const names = dependencyNames(spec);
  const seeds = names.length
    ? sql.join(
        names.map((n) => sql`${n}`),
        sql`, `,
      )
    : sql`''`;
  // A select over a subquery (not db.all) so it can ride in a drizzle batch with the other reads.
  return db.select({ from: sql<string>`"from"`, fromVersion: sql<string>`"fromVersion"`, to: sql<string>`"to"`, toVersion: sql<string>`"toVersion"` }).from(sql`(
      WITH RECURSIVE reach(version_id) AS (
        SELECT v.id FROM agent_versions v JOIN agents a ON a.id = v.agent_id WHERE a.name IN (${seeds})
        UNION
        SELECT v2.id FROM reach r
          JOIN dependency_edges e ON e.version_id = r.version_id
          JOIN agents a2 ON a2.name = e.depends_on_name
          JOIN agent_versions v2 ON v2.agent_id = a2.id AND v2.version = e.resolved_version
      )
      SELECT a.name AS "from", v.version AS "fromVersion", e.depends_on_name AS "to", e.resolved_version AS "toVersion"
      FROM reach r
        JOIN dependency_edges e ON e.version_id = r.version_id
        JOIN agent_versions v ON v.id = r.version_id
        JOIN agents a ON a.id = v.agent_id
    ) AS reachable_edges`);
};

/** Resolves each `name@range` to the highest candidate version; 422 naming every missing one. Pure. */
export function resolveDependencies(spec: AgentSpec, candidates: readonly { name: string; version: string }[]): ResolvedDependency[] {
  const missing: string[] = [];
  const resolved: ResolvedDependency[] = [];
  for (const w of wantedDependencies(spec)) {
    if (w.name === spec.name) throw new AppError("dependency_cycle", `Dependency cycle: ${spec.name} -> ${spec.name}.`, { cycle: [spec.name, spec.name] });
    const version = semver.maxSatisfying(
      candidates.filter((r) => r.name === w.name).map((r) => r.version),
      w.range,
    );
    if (!version) missing.push(`${w.name}@${w.range}`);
    else resolved.push({ ...w, version });
  }
  if (missing.length) {
    throw new AppError("unresolved_dependency", `Unresolved dependencies: ${missing.join(", ")}.`, {
      missing,
      errors: missing.map((m) => ({ path: "dependencies", message: `${m} does not match any registered version` })),
    });
  }
  return resolved;
}

/** Walks the dependency graph from the new version's dependencies; a path back to its name is a cycle. Pure. */
export function refuseCycles(name: string, deps: readonly ResolvedDependency[], edges: readonly Edge[]): void {
  const out = new Map<string, Edge[]>();
  for (const e of edges) {
    const key = `${e.from}@${e.fromVersion}`;
    out.set(key, [...(out.get(key) ?? []), e]);
  }
  // parentOf maps `name@version` to the node that reached it; the root is the bare agent name.
  const parentOf = new Map<string, string>();
  let frontier = deps.map((d) => `${d.name}@${d.version}`);
  for (const key of frontier) parentOf.set(key, name);
  while (frontier.length) {
    const next: string[] = [];
    for (const fromKey of frontier) {
      for (const e of out.get(fromKey) ?? []) {
        if (e.to === name) {
          const chain: string[] = [];
          for (let k: string | undefined = fromKey; k !== undefined && k !== name; k = parentOf.get(k)) chain.unshift(k.slice(0, k.lastIndexOf("@")));
          const cycle = [name, ...chain, name];
          throw new AppError("dependency_cycle", `Dependency cycle: ${cycle.join(" -> ")}.`, { cycle });
        }
        const key = `${e.to}@${e.toVersion}`;
        if (!parentOf.has(key)) {
          parentOf.set(key, fromKey);
          next.push(key);
        }
      }
    }
    frontier = next;
  }
}
