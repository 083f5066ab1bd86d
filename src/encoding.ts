/** Encodings used across the system (bytes, times), in one place. */

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** An object with keys, as a zod object schema takes one: not null, not an array. */
export const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/** Lowercase hex of some bytes (ids, digests, tags: on hot paths, so a table instead of a formatter per byte). */
export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (let i = 0; i < view.length; i++) out += HEX[view[i]!];
  return out;
}

/** Epoch milliseconds as the API writes every time: ISO 8601 in UTC. A missing time stays null. */
export function iso(ms: number): string;
export function iso(ms: number | null | undefined): string | null;
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

// Uint8Array.fromBase64 / toBase64 (ES2026) are native in workerd; TypeScript's libs do not type them yet.
type Alphabet = { alphabet?: "base64" | "base64url" };
const native = Uint8Array as unknown as { fromBase64(text: string, opts: Alphabet & { lastChunkHandling: "strict" | "loose" }): Uint8Array };
const toBase64 = (bytes: Uint8Array, opts: Alphabet & { omitPadding?: boolean }) => (bytes as unknown as { toBase64(o: typeof opts): string }).toBase64(opts);

export function encodeBase64(bytes: Uint8Array): string {
  return toBase64(bytes, {});
}

const STRICT = { lastChunkHandling: "strict" } as const;

/** Strict: only the canonical encoding of some bytes decodes, so no two texts name the same bytes. */
export function decodeBase64(text: string): Uint8Array | null {
  let bytes: Uint8Array;
  try {
    // "strict" refuses a missing "=", non-zero padding bits and any character outside the alphabet but whitespace.
    bytes = native.fromBase64(text, STRICT);
  } catch {
    return null;
  }
  // fromBase64 skips whitespace: canonical text is exactly 4 characters per 3 bytes begun (a length check
  // instead of a pattern, which scanned every message's ciphertext a second time).
  return text.length === Math.ceil(bytes.length / 3) * 4 ? bytes : null;
}

/** URL- and filename-safe base64 (RFC 4648 §5), unpadded: for tokens and cursors. */
export function encodeBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes, { alphabet: "base64url", omitPadding: true });
}

/** The inverse of encodeBase64Url; null for anything that is not unpadded base64url. */
export function decodeBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  try {
    return native.fromBase64(text, { alphabet: "base64url", lastChunkHandling: "loose" });
  } catch {
    return null;
  }
}
