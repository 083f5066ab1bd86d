import { toHex } from "../encoding";
import { AppError } from "../errors";

/** The deepest nesting a JSON body (or any user JSON the system walks) may have. */
export const MAX_JSON_DEPTH = 64;

/**
 * How deeply a JSON value nests: a scalar is 0, `{}` or `[]` is 1, `{"a":[1]}` is 2. Counted without recursion,
 * so a hostile value cannot overflow the stack; stops as soon as it passes `limit`.
 */
export function jsonDepth(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    const here = depth + 1;
    if (here > deepest) deepest = here;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === "object") stack.push([child, here]);
  }
  return deepest;
}

/** The problem for a value nested deeper than MAX_JSON_DEPTH. */
export const jsonTooDeep = () =>
  new AppError("bad_request", `JSON may nest at most ${MAX_JSON_DEPTH} levels deep (objects and arrays); this value nests deeper.`, {
    type: "/problems/json-too-deep",
    maxDepth: MAX_JSON_DEPTH,
  });

const scalarJson = (value: unknown) => JSON.stringify(value) ?? "null";

/**
 * Canonical JSON: object keys sorted, no insignificant whitespace, so equal content gives equal bytes.
 * Written with an explicit stack (not recursion): any depth serialises without a RangeError.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return scalarJson(value);
  const out: string[] = [];
  // Each item is either text to emit as is, or a value still to serialise; popped in order.
  const stack: ({ text: string } | { value: unknown })[] = [{ value }];
  while (stack.length) {
    const item = stack.pop()!;
    if ("text" in item) {
      out.push(item.text);
      continue;
    }
    const v = item.value;
    if (v === null || typeof v !== "object") {
      out.push(scalarJson(v));
      continue;
    }
    const parts: ({ text: string } | { value: unknown })[] = [];
    if (Array.isArray(v)) {
      out.push("[");
      v.forEach((child, i) => {
        parts.push(...(i ? [{ text: "," }] : []), { value: child });
      });
      parts.push({ text: "]" });
    } else {
      out.push("{");
      const entries = Object.entries(v as Record<string, unknown>)
        .filter(([, child]) => child !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      entries.forEach(([k, child], i) => {
        parts.push({ text: `${i ? "," : ""}${JSON.stringify(k)}:` }, { value: child });
      });
      parts.push({ text: "}" });
    }
    for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]!);
  }
  return out.join("");
}

const encoder = new TextEncoder();

export function utf8Length(text: string): number {
  return encoder.encode(text).byteLength;
}

export async function sha256Hex(text: string | Uint8Array): Promise<string> {
  const bytes = typeof text === "string" ? encoder.encode(text) : text;
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return toHex(digest);
}
