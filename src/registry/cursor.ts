import { and, eq, gt, lt, or, type Column, type SQL } from "drizzle-orm";
import { decodeBase64Url, encodeBase64Url } from "../encoding";
import { AppError } from "../errors";

/** Opaque keyset cursor: the sort key of the last row seen, so inserts never shift a page. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return encodeBase64Url(new TextEncoder().encode(JSON.stringify(key)));
}

export function decodeCursor(cursor: string, shape: readonly ("string" | "number")[]): (string | number)[] {
  try {
    const bytes = decodeBase64Url(cursor);
    const key: unknown = bytes && JSON.parse(new TextDecoder().decode(bytes));
    if (Array.isArray(key) && key.length === shape.length && key.every((v, i) => typeof v === shape[i])) return key;
  } catch {
    // fall through to the error below
  }
  throw new AppError("bad_request", "The cursor is not valid; pass the nextCursor of a previous page.", {
    errors: [{ path: "cursor", message: "invalid cursor" }],
  });
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** The keyset filter for lists ordered by (time, id): rows strictly past the cursor in the list's direction. */
export function afterTimeId(cursor: string | undefined, time: Column, id: Column, direction: "asc" | "desc"): SQL | undefined {
  if (!cursor) return undefined;
  const [t, i] = decodeCursor(cursor, ["number", "string"]) as [number, string];
  const past = direction === "asc" ? gt : lt;
  return or(past(time, t), and(eq(time, t), past(id, i)));
}

/** Turns `limit + 1` fetched rows into a page: the extra row only says that another page exists. */
export function toPage<Row, Item>(rows: Row[], limit: number, view: (row: Row) => Item, keyOf: (row: Row) => (string | number)[]): Page<Item> {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { items: page.map(view), nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null };
}
