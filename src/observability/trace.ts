/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/#traceparent-header): `00-<trace-id>-<parent-id>-<flags>`,
 * lowercase hex. Pure; the request middleware reads the header and answers with our own span id.
 */
export interface TraceParent {
  traceId: string;
  /** The caller's span (our parent), or ours when we answer. */
  spanId: string;
  sampled: boolean;
}

// Version 00 is exact length; a future version may append fields after a dash, which we ignore (spec §3.2.4).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZERO = /^0+$/;

/** The header's trace, or null when it is absent or malformed (then the caller starts a new trace). */
export function parseTraceparent(header: string | null | undefined): TraceParent | null {
  const m = header ? TRACEPARENT.exec(header.trim()) : null;
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === "ff" || (version === "00" && rest !== undefined)) return null;
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(spanId)) return null;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceparent(t: TraceParent): string {
  return `00-${t.traceId}-${t.spanId}-${t.sampled ? "01" : "00"}`;
}

const hex = (bytes: number) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");

export const newTraceId = () => hex(16);
export const newSpanId = () => hex(8);

/** A trace id as stored on records and accepted by `?traceId=`. */
export const TRACE_ID_PATTERN = /^[0-9a-f]{32}$/;
