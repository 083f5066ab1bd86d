import { AppError } from "../errors";

/** Opaque keyset cursor: the sort key of the last row seen, so inserts never shift a page. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return btoa(JSON.stringify(key)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

export function decodeCursor(cursor: string, shape: readonly ("string" | "number")[]): (string | number)[] {
  try {
    const json = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    const key: unknown = JSON.parse(json);
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
