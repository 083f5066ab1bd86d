import { currentGeneration } from "../registry/generation";
import type { AgentSpec } from "../registry/spec";
import { registryDb } from "../registry/store";
import { resolveRunnable, type RunnableVersion } from "./resolve";

/**
 * Agent references resolved without D1 on a warm path. Specs are cached by content hash, which never
 * changes meaning. A reference's resolution (`name`, `name#canary`, `name@1.2.0` -> agent id and content
 * hash) is cached with the registry generation it was read under, and holds while that generation is
 * current (registry/generation.ts: a channel move anywhere takes effect in every isolate within 1 s).
 */
const MAX_SPECS = 500;
const MAX_REFS = 2_000;

const refs = new Map<string, { generation: number; agentId: string; contentHash: string }>();
const specs = new Map<string, AgentSpec>();

function remember<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  if (map.size >= max && !map.has(key)) map.delete(map.keys().next().value as K);
  map.set(key, value);
}

/** Resolves a reference from this isolate's caches when they are current, else through one D1 session read. */
export async function resolveCached(d1: D1Database, ref: string, { toCanary = false } = {}): Promise<RunnableVersion> {
  const { generation, bookmark } = await currentGeneration(d1);
  const key = `${toCanary ? "canary" : "plain"} ${ref}`;
  const hit = refs.get(key);
  const spec = hit && hit.generation === generation ? specs.get(hit.contentHash) : undefined;
  if (hit && spec) return { agentId: hit.agentId, spec, contentHash: hit.contentHash };
  // Read from a replica at least as fresh as the generation in hand (its bookmark), else from the primary.
  const session = d1.withSession(bookmark ?? "first-primary");
  const resolved = await resolveRunnable(registryDb(session as unknown as D1Database), ref, { toCanary });
  remember(specs, resolved.contentHash, resolved.spec, MAX_SPECS);
  remember(refs, key, { generation, agentId: resolved.agentId, contentHash: resolved.contentHash }, MAX_REFS);
  return resolved;
}
