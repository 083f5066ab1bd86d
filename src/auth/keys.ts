import { and, asc, eq, gt, isNull } from "drizzle-orm";
import { base64url } from "jose";
import type { Principal } from "../env";
import { AppError } from "../errors";
import { newId } from "../ids";
import { sha256Hex } from "../registry/canonical";
import { decodeCursor, encodeCursor, type Page } from "../registry/cursor";
import { apiKeys } from "../registry/schema";
import type { Db } from "../registry/store";
import { isScope, type Scope } from "./scopes";

type ApiKeyRow = typeof apiKeys.$inferSelect;

export const API_KEY_PREFIX = "tdk_";
/** 32 random bytes = 256 bits: far beyond guessing, and enough that a plain SHA-256 (no slow KDF) is the right hash. */
const KEY_RANDOM_BYTES = 32;
/** How much of the key is kept in clear so a person can tell keys apart in a list. */
const SHOWN_PREFIX_LENGTH = API_KEY_PREFIX.length + 6;

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

const view = (row: ApiKeyRow): ApiKeyView => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  scopes: row.scopes,
  createdAt: iso(row.createdAt),
  createdBy: row.createdBy,
  revokedAt: row.revokedAt === null ? null : iso(row.revokedAt),
});

/** A fresh key and what is stored about it: only its SHA-256 and a short prefix. */
export async function generateApiKey(): Promise<{ key: string; hash: string; prefix: string }> {
  const key = API_KEY_PREFIX + base64url.encode(crypto.getRandomValues(new Uint8Array(KEY_RANDOM_BYTES)));
  return { key, hash: await sha256Hex(key), prefix: key.slice(0, SHOWN_PREFIX_LENGTH) };
}

/** Creates a key holding `scopes`; a creator can hand out only scopes it holds itself. */
export async function createApiKey(
  db: Db,
  input: { name: string; scopes: readonly Scope[] },
  creator: Principal,
  now = Date.now(),
): Promise<ApiKeyView & { key: string }> {
  const lacking = input.scopes.filter((s) => !creator.scopes.has(s));
  if (lacking.length) {
    throw new AppError("forbidden", `A key cannot grant scopes its creator lacks: ${lacking.join(", ")}.`, { lackingScopes: lacking });
  }
  const { key, hash, prefix } = await generateApiKey();
  const row: ApiKeyRow = {
    id: newId("key", now),
    name: input.name,
    prefix,
    hash,
    scopes: [...new Set(input.scopes)],
    createdAt: now,
    createdBy: creator.id,
    revokedAt: null,
  };
  await db.insert(apiKeys).values(row);
  return { ...view(row), key };
}

/** Keys in creation order (ids sort by creation time), revoked ones included so the list is an audit trail. */
export async function listApiKeys(db: Db, limit: number, cursor?: string): Promise<Page<ApiKeyView>> {
  const after = cursor ? (decodeCursor(cursor, ["string"])[0] as string) : undefined;
  const rows = await db
    .select()
    .from(apiKeys)
    .where(after === undefined ? undefined : gt(apiKeys.id, after))
    .orderBy(asc(apiKeys.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { items: page.map(view), nextCursor: rows.length > limit && last ? encodeCursor([last.id]) : null };
}

export async function getApiKey(db: Db, id: string): Promise<ApiKeyView> {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1);
  if (!row) throw new AppError("not_found", `No API key ${id}.`);
  return view(row);
}

/** Revokes a key. Idempotent: revoking a revoked key keeps its first revocation time. */
export async function revokeApiKey(db: Db, id: string, now = Date.now()): Promise<ApiKeyView> {
  const [updated] = await db
    .update(apiKeys)
    .set({ revokedAt: now })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .returning();
  return updated ? view(updated) : getApiKey(db, id);
}

export type KeyCheck = { ok: true; principal: Principal } | { ok: false; reason: string };

/**
 * Resolves a presented key by the hash of what was presented. Read from D1 on every request, with no
 * cache, so a revocation is in force for the very next request.
 */
export async function authenticateApiKey(db: Db, token: string): Promise<KeyCheck> {
  const [row] = await db
    .select({ id: apiKeys.id, scopes: apiKeys.scopes, revokedAt: apiKeys.revokedAt })
    .from(apiKeys)
    .where(eq(apiKeys.hash, await sha256Hex(token)))
    .limit(1);
  if (!row) return { ok: false, reason: "unknown API key" };
  if (row.revokedAt !== null) return { ok: false, reason: "API key revoked" };
  return { ok: true, principal: { id: `key:${row.id}`, scopes: new Set(row.scopes.filter(isScope)) } };
}
