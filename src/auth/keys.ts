import { and, asc, eq, gt, isNull, lt, or } from "drizzle-orm";
import type { Env, Principal } from "../env";
import { AppError } from "../errors";
import { newId } from "../ids";
import { sha256Hex } from "../registry/canonical";
import { decodeCursor, type Page, toPage } from "../registry/cursor";
import { apiKeys } from "../registry/schema";
import { registryDb, type Db } from "../registry/store";
import type { Scope } from "./scopes";
import { apiKeyLeases } from "./token-lease";
import { encodeBase64Url, iso } from "../encoding";

type ApiKeyRow = typeof apiKeys.$inferSelect;

export const API_KEY_PREFIX = "tdk_";
/** 32 random bytes = 256 bits: far beyond guessing, and enough that a plain SHA-256 (no slow KDF) is the right hash. */
const KEY_RANDOM_BYTES = 32;
/** tdk_ + base64url of KEY_RANDOM_BYTES, unpadded. */
export const API_KEY_SHAPE = /^tdk_[A-Za-z0-9_-]{43}$/;
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
  expiresAt: string | null;
  lastUsedAt: string | null;
}

const view = (row: ApiKeyRow): ApiKeyView => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  scopes: row.scopes,
  createdAt: iso(row.createdAt),
  createdBy: row.createdBy,
  revokedAt: iso(row.revokedAt),
  expiresAt: iso(row.expiresAt),
  lastUsedAt: iso(row.lastUsedAt),
});

/** A fresh key and what is stored about it: only its SHA-256 and a short prefix. */
export async function generateApiKey(): Promise<{ key: string; hash: string; prefix: string }> {
  const key = API_KEY_PREFIX + encodeBase64Url(crypto.getRandomValues(new Uint8Array(KEY_RANDOM_BYTES)));
  return { key, hash: await hashApiKey(key), prefix: key.slice(0, SHOWN_PREFIX_LENGTH) };
}

/** Creates a key holding `scopes`; a creator can hand out only scopes it holds itself. */
export async function createApiKey(
  db: Db,
  input: { name: string; scopes: readonly Scope[]; expiresAt?: string },
  creator: Principal,
  now = Date.now(),
): Promise<ApiKeyView & { key: string }> {
  const expiresAt = input.expiresAt === undefined ? null : Date.parse(input.expiresAt);
  if (expiresAt !== null && !(expiresAt > now)) {
    throw new AppError("validation_failed", "expiresAt must be in the future.", { errors: [{ path: "expiresAt", message: "must be in the future" }] });
  }
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
    expiresAt,
    lastUsedAt: null,
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
  return toPage(rows, limit, view, (r) => [r.id]);
}

export async function getApiKey(db: Db, id: string): Promise<ApiKeyView> {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1);
  if (!row) throw new AppError("not_found", `No API key ${id}.`);
  return view(row);
}

/** The Durable Object that holds a key's record and rate-limit bucket, addressed by the key's hash (all a request knows). */
export const keyObjectName = (hash: string) => `keyhash:${hash}`;

export const hashApiKey = (token: string) => sha256Hex(token);

export interface KeyRecord {
  id: string;
  scopes: string[];
  revoked: boolean;
  expiresAt: number | null;
  lastUsedAt: number | null;
}

/** The stored record for a presented key's hash, or undefined for a key that was never issued. */
export async function findKeyByHash(db: Db, hash: string): Promise<KeyRecord | undefined> {
  const [row] = await db
    .select({ id: apiKeys.id, scopes: apiKeys.scopes, revokedAt: apiKeys.revokedAt, expiresAt: apiKeys.expiresAt, lastUsedAt: apiKeys.lastUsedAt })
    .from(apiKeys)
    .where(eq(apiKeys.hash, hash))
    .limit(1);
  return row && { id: row.id, scopes: row.scopes, revoked: row.revokedAt !== null, expiresAt: row.expiresAt, lastUsedAt: row.lastUsedAt };
}

/** Records a key's use; never moves last_used_at backwards, so late or repeated writes are harmless. */
export async function recordKeyUse(db: Db, id: string, at: number): Promise<void> {
  await db
    .update(apiKeys)
    .set({ lastUsedAt: at })
    .where(and(eq(apiKeys.id, id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, at))));
}

/**
 * Revokes a key: marks it in D1, then tells the key's Durable Object to drop its cached record, so the very
 * next request is refused. Idempotent (keeps the first revocation time), and a retry repeats the invalidation.
 */
export async function revokeApiKey(env: Env, id: string, now = Date.now()): Promise<ApiKeyView> {
  const db = registryDb(env.DB);
  await db
    .update(apiKeys)
    .set({ revokedAt: now })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)));
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1);
  if (!row) throw new AppError("not_found", `No API key ${id}.`);
  apiKeyLeases.forget(row.hash); // this isolate at once; others hold a lease for at most LEASE_TTL_MS
  await env.RATE_LIMITER.getByName(keyObjectName(row.hash)).forgetKey();
  return view(row);
}
