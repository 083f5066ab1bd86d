import { waitUntil } from "cloudflare:workers";
import { readGeneration, type RegistryGeneration } from "../registry/generation";
import { localWrites } from "../registry/read-cache";
import type { AgentSpec } from "../registry/spec";
import { registryDb } from "../registry/store";
import { resolveRunnable, type RunnableVersion } from "./resolve";

/**
 * Agent references resolved without D1 on a warm path. Specs are cached by content hash, which never
 * changes meaning. A reference's resolution (`name`, `name#canary`, `name@1.2.0` -> agent id and content
 * hash) is cached with the registry generation it was read under, and holds while that generation is
 * current. The generation (migration 0012) is re-read from the primary in the background once this
 * isolate's copy is REFRESH_AFTER_MS old, and a run never uses a copy older than STALE_AFTER_MS: so
 * a channel move anywhere takes effect in every isolate within 1 s, and a busy isolate pays no D1 read
 * for it on the run's path (an isolate idle for over a second pays one tiny read). Writes made through
 * this isolate take effect in it at once.
 */
export const STALE_AFTER_MS = 1_000;
export const REFRESH_AFTER_MS = 500;
const MAX_SPECS = 500;
const MAX_REFS = 2_000;

interface Checked extends RegistryGeneration {
  /** When the read began: the copy reflects every change committed before then. */
  readAt: number;
  /** This isolate's registry writes when the read began. */
  localAt: number;
}

/** Whether a generation read at `readAt` may serve a run at `now`. Pure. */
export function freshness(checked: Pick<Checked, "readAt" | "localAt"> | undefined, now: number, local: number): "fresh" | "refresh" | "stale" {
  if (!checked || checked.localAt !== local || now - checked.readAt >= STALE_AFTER_MS) return "stale";
  return now - checked.readAt >= REFRESH_AFTER_MS ? "refresh" : "fresh";
}

let checked: Checked | undefined;
/** A background refresh is running (a flag, not a shared promise: a request must never await I/O another request started, which hangs once that request ends). */
let refreshing = false;
const refs = new Map<string, { generation: number; agentId: string; contentHash: string }>();
const specs = new Map<string, AgentSpec>();

async function readNow(d1: D1Database): Promise<Checked> {
  const readAt = Date.now();
  const localAt = localWrites();
  const next = { ...(await readGeneration(d1)), readAt, localAt };
  // A slower read that began earlier must not replace a newer copy.
  if (!checked || readAt >= checked.readAt) checked = next;
  return next;
}

function refreshBehind(d1: D1Database): void {
  if (refreshing) return;
  refreshing = true;
  const refresh = readNow(d1)
    .catch(() => undefined) // the copy in hand is still within the bound; the next run tries again
    .finally(() => {
      refreshing = false;
    });
  try {
    waitUntil(refresh);
  } catch {
    // Outside a request there is nothing to extend.
  }
}

async function currentGeneration(d1: D1Database): Promise<Checked> {
  const state = freshness(checked, Date.now(), localWrites());
  if (state === "fresh") return checked!;
  if (state === "refresh") {
    refreshBehind(d1);
    return checked!;
  }
  return readNow(d1);
}

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
