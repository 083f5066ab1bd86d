/**
 * A per-isolate read cache for hot registry reads (GET /agents/{id}). Entries live at most
 * TTL_MS, and every registry write made through this isolate clears the cache at once, so a
 * client never reads its own write stale; other isolates may serve a value up to TTL_MS old,
 * the same bounded staleness D1 read replicas already have.
 */
const TTL_MS = 1_000;
const MAX_ENTRIES = 1_000;

const entries = new Map<string, { expires: number; value: unknown }>();

export async function cached<T>(key: string, load: () => Promise<T>, now = Date.now()): Promise<T> {
  const hit = entries.get(key);
  if (hit && hit.expires > now) return hit.value as T;
  const generationAtStart = generation;
  const value = await load();
  // A write that landed while we were reading makes this value suspect: do not keep it.
  if (generationAtStart === generation) {
    if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value as string);
    entries.set(key, { expires: now + TTL_MS, value });
  }
  return value;
}

let generation = 0;

/** Registry writes begun or finished through this isolate so far: caches elsewhere use it to see their own writes at once. */
export const localWrites = () => generation;

function invalidate(): void {
  generation++;
  entries.clear();
}

/** Wraps every registry write: clears before (new reads miss) and after (reads that overlapped it are dropped). */
export async function writing<T>(write: () => PromiseLike<T>): Promise<T> {
  invalidate();
  try {
    return await write();
  } finally {
    invalidate();
  }
}
