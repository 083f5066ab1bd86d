import { decodeCursor, encodeCursor, type Page } from "../registry/cursor";

/** Rows fetched one past the page tell whether a next page exists; the cursor is the last row's seq. */
export function pageOf<R extends { seq: number }, V>(rows: R[], limit: number, view: (r: R) => V): Page<V> {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { items: page.map(view), nextCursor: rows.length > limit && last ? encodeCursor([last.seq]) : null };
}

export const beforeSeq = (cursor?: string) => (cursor ? (decodeCursor(cursor, ["number"])[0] as number) : undefined);
