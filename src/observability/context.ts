import { AsyncLocalStorage } from "node:async_hooks";
import { newSpanId, newTraceId, type TraceParent } from "./trace";

/**
 * The trace of the work in progress, carried implicitly through awaits (AsyncLocalStorage), so a run
 * recorded deep inside a request gets the request's trace id without threading it through every call.
 * It does not cross a Durable Object RPC or a queue: callers pass `traceId` explicitly there.
 */
const storage = new AsyncLocalStorage<TraceParent>();

export function withTrace<T>(trace: TraceParent, fn: () => T): T {
  return storage.run(trace, fn);
}

/** Runs `fn` inside the trace `traceId` (from a task, message or run record), or a new trace when there is none. */
export function continueTrace<T>(traceId: string | null | undefined, fn: () => T): T {
  return storage.run({ traceId: traceId ?? newTraceId(), spanId: newSpanId(), sampled: true }, fn);
}

export const currentTrace = (): TraceParent | undefined => storage.getStore();
export const currentTraceId = (): string | undefined => storage.getStore()?.traceId;
