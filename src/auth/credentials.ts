import type { Env, Principal } from "../env";
import { looksLikeJwt, jwtConfig, verifyJwt } from "./jwt";
import { API_KEY_PREFIX, API_KEY_SHAPE, hashApiKey, keyObjectName } from "./keys";
import { rateLimitConfig } from "./rate-limiter";
import { isScope, SCOPES } from "./scopes";
import type { BucketDecision } from "./token-bucket";
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
    if (leased) return { ok: true, principal: leased.holder, rateLimit: leased.decision };
    const config = rateLimitConfig(env);
    const size = apiKeyLeases.sizeFor(hash, config.capacity, now);
    const result = await env.RATE_LIMITER.getByName(keyObjectName(hash)).takeForKey(hash, config, size);
    if (!result.ok) {
      apiKeyLeases.forget(hash);
      return result;
    }
    const principal = { id: result.principalId, scopes: new Set(result.scopes.filter(isScope)) };
    const grant = { holder: principal, decision: result.decision, granted: result.granted, size, askedAt: now, expiresAt: result.expiresAt ?? undefined };
    const keyUse = result.usedAt === undefined ? undefined : { keyId: result.principalId.slice("key:".length), at: result.usedAt };
    return { ok: true, principal, rateLimit: apiKeyLeases.granted(hash, grant), keyUse };
  }
  if (looksLikeJwt(token)) return verifyJwt(token, jwtConfig(env));
  return { ok: false, reason: "unrecognised credential" };
}
