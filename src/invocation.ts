import { AsyncLocalStorage } from "node:async_hooks";
import { waitUntil } from "cloudflare:workers";

/**
 * Work that is batched behind a request (metrics, run records) normally collects for a short window that a
 * timer ends. A queue invocation must not wait for such timers (the queue holds its next batch until the
 * invocation's background work settles), and one invocation must never end another's window: resolving a
 * promise another request created is refused by workerd. Inside `asInvocation`, batches collect in the
 * invocation's own scope instead, and are sent when its work ends.
 */
interface Scope {
  batches: Map<string, { value: unknown; send: (value: unknown) => Promise<void> }>;
}

const storage = new AsyncLocalStorage<Scope>();

export async function asInvocation<T>(work: () => Promise<T>): Promise<T> {
  const scope: Scope = { batches: new Map() };
  try {
    return await storage.run(scope, work);
  } finally {
    // Each sender handles its own failures (a durable fallback, or a logged gap for metrics).
    await Promise.allSettled([...scope.batches.values()].map((b) => b.send(b.value)));
  }
}

/** This invocation's batch named `key` (made by `create`, sent with `send` when the invocation ends), or undefined outside one. */
export function invocationBatch<T>(key: string, create: () => T, send: (value: T) => Promise<void>): T | undefined {
  const scope = storage.getStore();
  if (!scope) return undefined;
  let batch = scope.batches.get(key);
  if (!batch) {
    batch = { value: create(), send: send as (value: unknown) => Promise<void> };
    scope.batches.set(key, batch);
  }
  return batch.value as T;
}

/** Keeps the current request or invocation alive until `work` settles; outside one (module scope, a test calling directly) there is nothing to extend. */
export function extendInvocation(work: Promise<unknown>): void {
  try {
    waitUntil(work);
  } catch {
    // No request to extend: the promise still runs while the isolate lives.
  }
}
