/** Wall-clock limit of a run when neither the spec nor the request sets one. */
export const DEFAULT_TIMEOUT_MS = 5_000;
/** No run may ask for more than this (the spec schema also caps timeoutMs here). */
export const SYSTEM_MAX_TIMEOUT_MS = 30_000;
/** Largest output a run may return, measured as UTF-8 bytes of its JSON. */
export const MAX_OUTPUT_BYTES = 256 * 1024;
/** ctx.log keeps at most this many entries per run, each cut to MAX_LOG_CHARS. */
export const MAX_LOG_ENTRIES = 100;
export const MAX_LOG_CHARS = 2_000;

/**
 * The run's timeout: the spec's own (default 5 s, never above the system maximum) bounds it;
 * a request may shorten it, and a longer request is cut to the spec's limit.
 */
export function effectiveTimeout(specTimeoutMs: number | undefined, requestTimeoutMs: number | undefined): number {
  const ceiling = Math.min(specTimeoutMs ?? DEFAULT_TIMEOUT_MS, SYSTEM_MAX_TIMEOUT_MS);
  if (requestTimeoutMs === undefined || !Number.isFinite(requestTimeoutMs)) return ceiling;
  return Math.max(1, Math.min(Math.floor(requestTimeoutMs), ceiling));
}

const encoder = new TextEncoder();

export function jsonBytes(json: string): number {
  return encoder.encode(json).byteLength;
}

/** Parses a sandbox's JSON text on the host side, refusing anything over the output limit. */
export function parseOutput(json: unknown): { ok: true; value: unknown } | { ok: false; reason: "too_large" | "bad_output"; detail: string } {
  if (typeof json !== "string") return { ok: false, reason: "bad_output", detail: "The sandbox returned no JSON text." };
  const bytes = jsonBytes(json);
  if (bytes > MAX_OUTPUT_BYTES) return { ok: false, reason: "too_large", detail: `The output is ${bytes} bytes; the limit is ${MAX_OUTPUT_BYTES}.` };
  try {
    return { ok: true, value: JSON.parse(json) };
  } catch {
    return { ok: false, reason: "bad_output", detail: "The output is not valid JSON." };
  }
}

/** A run's log lines as its sandbox reported them, bounded whatever it sent: MAX_LOG_ENTRIES strings of MAX_LOG_CHARS. */
export function boundedLogs(lines: unknown): string[] {
  if (!Array.isArray(lines)) return [];
  return lines.slice(0, MAX_LOG_ENTRIES).map((entry) => {
    const line = typeof entry === "string" ? entry : String(entry);
    return line.length > MAX_LOG_CHARS ? `${line.slice(0, MAX_LOG_CHARS)}…` : line;
  });
}

/** `work`'s value, or "timeout" once `ms` pass first; a rejection of `work` passes through, and the timer ends with the race. */
export async function settledWithin<T>(work: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
