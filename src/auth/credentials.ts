import type { Env, Principal } from "../env";
import { looksLikeJwt, jwtConfig, verifyJwt } from "./jwt";
import { API_KEY_PREFIX, API_KEY_SHAPE, hashApiKey, keyObjectName } from "./keys";
import { rateLimitConfig } from "./rate-limiter";
import { isScope, SCOPES } from "./scopes";
import type { BucketDecision } from "./token-bucket";
import { apiKeyLeases } from "./token-lease";

const encoder = new TextEncoder();

/** Constant-time comparison: hashes both sides first so lengths leak nothing either. */
export async function secretEquals(a: string, b: string): Promise<boolean> {
  const presented = await crypto.subtle.digest("SHA-256", encoder.encode(a));
  // The configured secret's digest is kept per isolate (a value, never a promise shared across requests):
  // the usual request hashes only what it presents.
  const expected = secretDigest?.secret === b ? secretDigest.digest : await digestOf(b);
  return crypto.subtle.timingSafeEqual(presented, expected);
}

let secretDigest: { secret: string; digest: ArrayBuffer } | undefined;

async function digestOf(secret: string): Promise<ArrayBuffer> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(secret));
  secretDigest = { secret, digest };
  return digest;
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
  if (env.ADMIN_API_KEY && (await secretEquals(token, env.ADMIN_API_KEY))) return { ok: true, principal: ADMIN };
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
