import { noteLocalWrite } from "./generation";

/**
 * A per-isolate read cache for hot registry reads (GET /agents/{id}). An entry holds while the registry
 * generation it was read under is current (generation.ts: every change anywhere bumps it, and isolates
 * see a bump within 1 s), and every registry write made through this isolate clears the cache at once,
 * so a client never reads its own write stale.
 */
const MAX_ENTRIES = 1_000;

const entries = new Map<string, { generation: number; value: unknown }>();

/** `load`'s value for `key`, cached while the registry stays at `generation`. */
export async function cached<T>(key: string, generation: number, load: () => Promise<T>): Promise<T> {
  const hit = entries.get(key);
  if (hit && hit.generation === generation) return hit.value as T;
  const writesAtStart = writes;
  const value = await load();
  // A write through this isolate that landed while we were reading makes this value suspect: do not keep it.
  if (writesAtStart === writes) {
    if (entries.size >= MAX_ENTRIES && !entries.has(key)) entries.delete(entries.keys().next().value as string);
    entries.set(key, { generation, value });
  }
  return value;
}

let writes = 0;

function invalidate(): void {
  writes++;
  noteLocalWrite();
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
