import { toHex } from "./encoding";

/** Prefixed ids that sort by creation time: `agt_` + 12 hex ms + 16 hex random. */
export function newId(prefix: string, now = Date.now()): string {
  const random = crypto.getRandomValues(new Uint8Array(8));
  return `${prefix}_${now.toString(16).padStart(12, "0")}${toHex(random)}`;
}
