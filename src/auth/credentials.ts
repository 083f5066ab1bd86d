import type { Env, Principal } from "../env";
import { registryDb } from "../registry/store";
import { looksLikeJwt, jwtConfig, verifyJwt } from "./jwt";
import { API_KEY_PREFIX, authenticateApiKey } from "./keys";
import { SCOPES } from "./scopes";

const encoder = new TextEncoder();

/** Constant-time comparison: hashes both sides first so lengths leak nothing either. */
export async function secretEquals(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([crypto.subtle.digest("SHA-256", encoder.encode(a)), crypto.subtle.digest("SHA-256", encoder.encode(b))]);
  return crypto.subtle.timingSafeEqual(ha, hb);
}

export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: string };

const ADMIN: Principal = { id: "admin", scopes: new Set(SCOPES) };

/**
 * Resolves a bearer token to a principal: the bootstrap ADMIN_API_KEY (every scope), an API key (`tdk_…`),
 * or a JWT. A failure carries a short reason that is safe to show the caller.
 */
export async function authenticate(env: Env, token: string): Promise<AuthResult> {
  if (env.ADMIN_API_KEY && (await secretEquals(token, env.ADMIN_API_KEY))) return { ok: true, principal: ADMIN };
  if (token.startsWith(API_KEY_PREFIX)) return authenticateApiKey(registryDb(env.DB), token);
  if (looksLikeJwt(token)) return verifyJwt(token, jwtConfig(env));
  return { ok: false, reason: "unrecognised credential" };
}
