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

/** Each byte value's two hex digits: an id is one lookup per byte, not a conversion, a pad and a join. */
const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/**
 * Random bytes drawn a block at a time: every request needs a span id (and most a trace id), and one
 * getRandomValues call per block serves about 170 requests. The bytes are as random as per-id calls;
 * ids are unguessable labels, never secrets.
 */
const RANDOM_BLOCK_BYTES = 4096;
let randomBlock = new Uint8Array(0);
let randomUsed = 0;

function randomHex(bytes: number): string {
  if (randomUsed + bytes > randomBlock.length) {
    randomBlock = crypto.getRandomValues(new Uint8Array(RANDOM_BLOCK_BYTES));
    randomUsed = 0;
  }
  let out = "";
  for (let i = randomUsed, end = randomUsed + bytes; i < end; i++) out += HEX_BYTE[randomBlock[i] as number];
  randomUsed += bytes;
  return out;
}

export const newTraceId = () => randomHex(16);
export const newSpanId = () => randomHex(8);

/** A trace id as stored on records and accepted by `?traceId=`. */
export const TRACE_ID_PATTERN = /^[0-9a-f]{32}$/;
