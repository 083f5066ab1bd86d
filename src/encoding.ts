/** Byte encodings used across the system, in one place. */

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  return [...(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// Uint8Array.fromBase64 / toBase64 (ES2026) are native in workerd; TypeScript's libs do not type them yet.
const native = Uint8Array as unknown as { fromBase64(text: string, opts: { lastChunkHandling: "strict" }): Uint8Array };

export function encodeBase64(bytes: Uint8Array): string {
  return (bytes as unknown as { toBase64(): string }).toBase64();
}

/** Strict: only the canonical encoding of some bytes decodes, so no two texts name the same bytes. */
export function decodeBase64(text: string): Uint8Array | null {
  // fromBase64 skips whitespace; the pattern does not, and "strict" refuses non-zero padding bits.
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  try {
    return native.fromBase64(text, { lastChunkHandling: "strict" });
  } catch {
    return null;
  }
}
