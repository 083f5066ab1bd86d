import { waitUntil } from "cloudflare:workers";
import type { Env, Principal } from "../env";
import { log } from "../observability/log";
import { registryDb } from "../registry/store";
import { looksLikeJwt, jwtConfig, verifyJwt } from "./jwt";
import { API_KEY_PREFIX, API_KEY_SHAPE, hashApiKey, keyObjectName, recordKeyUse } from "./keys";
import { type KeyTake, rateLimitConfig } from "./rate-limiter";
import { isScope, SCOPES } from "./scopes";
import type { BucketConfig, BucketDecision } from "./token-bucket";
import { apiKeyLeases } from "./token-lease";

const encoder = new TextEncoder();

/**
 * Constant-time comparison that leaks neither the secret nor its length: the presented value is cut or
 * zero-padded to the secret's length and compared in constant time, so the work depends only on the
 * secret's length and what the caller sent; the lengths are compared afterwards. Synchronous: every
 * request checks the bootstrap key, and an awaited digest cost more than the rest of authentication.
 */
export function secretEquals(presented: string, secret: string): boolean {
  const expected = secretBytes?.secret === secret ? secretBytes.bytes : bytesOf(secret);
  const given = encoder.encode(presented);
  const sameLength = new Uint8Array(expected.length);
  sameLength.set(given.subarray(0, expected.length));
  const equal = crypto.subtle.timingSafeEqual(sameLength, expected);
  return equal && given.length === expected.length;
}

// The configured secret's bytes, kept per isolate: the usual request encodes only what it presents.
let secretBytes: { secret: string; bytes: Uint8Array } | undefined;

function bytesOf(secret: string): Uint8Array {
  const bytes = encoder.encode(secret);
  secretBytes = { secret, bytes };
  return bytes;
}

/**
 * Who the caller is. For API keys the rate-limit token has already been taken in the same Durable Object call
 * (`rateLimit`), so the rate-limit middleware does not call again.
 */
export type AuthResult = { ok: true; principal: Principal; rateLimit?: BucketDecision; keyUse?: { keyId: string; at: number } } | { ok: false; reason: string };

const ADMIN: Principal = { id: "admin", scopes: new Set(SCOPES) };

/**
 * Resolves a bearer token to a principal: the bootstrap ADMIN_API_KEY (every scope), an API key (`tdk_…`),
 * or a JWT. A failure carries a short reason that is safe to show the caller.
 */
export async function authenticate(env: Env, token: string): Promise<AuthResult> {
  if (env.ADMIN_API_KEY && secretEquals(token, env.ADMIN_API_KEY)) return { ok: true, principal: ADMIN };
  if (token.startsWith(API_KEY_PREFIX)) {
    // Refuse what we could never have issued before spending a Durable Object and a D1 read on it.
    if (!API_KEY_SHAPE.test(token)) return { ok: false, reason: "malformed API key" };
    const hash = await hashApiKey(token);
    // A live lease of this key's tokens proves the key was valid within LEASE_TTL_MS: no call to its object.
    const now = Date.now();
    const leased = apiKeyLeases.spend(hash, now);
    const config = rateLimitConfig(env);
    if (leased) {
      topUpBehind(env, hash, config, now);
      return { ok: true, principal: leased.holder, rateLimit: leased.decision };
    }
    const size = apiKeyLeases.sizeFor(hash, config.capacity, now);
    const result = await env.RATE_LIMITER.getByName(keyObjectName(hash)).takeForKey(hash, config, size);
    if (!result.ok) {
      apiKeyLeases.forget(hash);
      return result;
    }
    const grant = { ...keyGrant(result, now), size };
    return { ok: true, principal: grant.holder, rateLimit: apiKeyLeases.granted(hash, grant), keyUse: keyUseOf(result) };
  }
  if (looksLikeJwt(token)) return verifyJwt(token, jwtConfig(env));
  return { ok: false, reason: "unrecognised credential" };
}

type KeyTaken = Extract<KeyTake, { ok: true }>;

const keyGrant = (result: KeyTaken, askedAt: number) => ({
  holder: { id: result.principalId, scopes: new Set(result.scopes.filter(isScope)) } satisfies Principal,
  decision: result.decision,
  granted: result.granted,
  askedAt,
  expiresAt: result.expiresAt ?? undefined,
});

const keyUseOf = (result: KeyTaken) => (result.usedAt === undefined ? undefined : { keyId: result.principalId.slice("key:".length), at: result.usedAt });

/**
 * Tops a running-low lease of an API key's tokens up after the answer (token-lease.ts). The key's object
 * checks the key again; a key revoked or expired meanwhile loses its lease here.
 */
function topUpBehind(env: Env, hash: string, config: BucketConfig, now: number): void {
  const topUp = apiKeyLeases.topUpBehind(hash, config.capacity, now, async (want) => {
    const result = await env.RATE_LIMITER.getByName(keyObjectName(hash)).takeForKey(hash, config, want);
    if (!result.ok) {
      apiKeyLeases.forget(hash);
      return undefined;
    }
    const use = keyUseOf(result);
    // Bookkeeping beside the top-up, never holding it up.
    if (use) waitUntil(recordKeyUse(registryDb(env.DB), use.keyId, use.at).catch((error: unknown) => log.warn("keys.record_use_failed", { error })));
    return keyGrant(result, now);
  });
  if (topUp) waitUntil(topUp.catch((error: unknown) => log.warn("rate_limit.top_up_failed", { error })));
}
