import type { Env, Principal } from "../env";
import { SCOPES } from "./scopes";

const encoder = new TextEncoder();

/** Constant-time comparison: hashes both sides first so lengths leak nothing either. */
export async function secretEquals(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([crypto.subtle.digest("SHA-256", encoder.encode(a)), crypto.subtle.digest("SHA-256", encoder.encode(b))]);
  return crypto.subtle.timingSafeEqual(ha, hb);
}

/** Resolves a bearer token to a principal, or null when it proves nothing. */
export async function authenticate(env: Env, token: string): Promise<Principal | null> {
  if (env.ADMIN_API_KEY && (await secretEquals(token, env.ADMIN_API_KEY))) return { id: "admin", scopes: new Set(SCOPES) };
  return null;
}
