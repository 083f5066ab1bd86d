import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type FetchImplementation,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from "jose";
import type { Env, Principal } from "../env";
import { AppError } from "../errors";
import { isScope } from "./scopes";

/** Where JWT keys and claim expectations come from; read from the environment, passed as plain data so tests can vary it. */
export interface JwtConfig {
  /** HS256 shared secret (JWT_SECRET). */
  secret?: string;
  /** Inline JWKS document for RS256/EdDSA (JWT_JWKS). */
  jwks?: string;
  /** Or a URL serving that JWKS (JWT_JWKS_URL). */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /** How the JWKS URL is fetched; the global fetch unless a caller (a test) supplies another. */
  jwksFetch?: FetchImplementation;
}

export const jwtConfig = (env: Env): JwtConfig => ({
  secret: env.JWT_SECRET || undefined,
  jwks: env.JWT_JWKS || undefined,
  jwksUrl: env.JWT_JWKS_URL || undefined,
  issuer: env.JWT_ISSUER || undefined,
  audience: env.JWT_AUDIENCE || undefined,
});

/**
 * Algorithms are pinned per kind of key, and the kind is chosen by us, not by the token: an HS256 token is only
 * ever checked against JWT_SECRET and an RS256/EdDSA token only against the JWKS. So `alg: none` has no path at
 * all, and an HS256 token "signed" with the RSA public key as HMAC secret meets JWT_SECRET and fails.
 */
const HMAC_ALGORITHMS = ["HS256"];
const ASYMMETRIC_ALGORITHMS = ["RS256", "EdDSA", "Ed25519"];

/** Tolerated clock difference with the issuer when checking exp and nbf. */
const CLOCK_TOLERANCE_SECONDS = 30;

export type JwtCheck = { ok: true; principal: Principal } | { ok: false; reason: string };

const fail = (reason: string): JwtCheck => ({ ok: false, reason });

/** A compact JWS: three base64url parts. Anything else is not ours to verify here. */
export const looksLikeJwt = (token: string) => /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);

const encoder = new TextEncoder();
// Per-isolate caches: importing keys and parsing the JWKS once, not per request. Keyed by the config text,
// so a changed secret or JWKS is never served from a stale entry.
const hmacKeys = new Map<string, Promise<CryptoKey>>();
const keySets = new Map<string, JWTVerifyGetKey>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    hmacKeys.set(secret, key);
  }
  return key;
}

function asymmetricKeySet(config: JwtConfig): JWTVerifyGetKey | undefined {
  const source = config.jwks ?? config.jwksUrl;
  if (!source) return undefined;
  let keySet = keySets.get(source);
  if (!keySet) {
    // A malformed JWKS is a deployment error: let it surface as a 500 with the cause logged.
    keySet = config.jwks ? createLocalJWKSet(JSON.parse(config.jwks)) : createRemoteJWKSet(new URL(source), config.jwksFetch ? { [customFetch]: config.jwksFetch } : {});
    keySets.set(source, keySet);
  }
  return keySet;
}

/** `scope` as an OAuth space-separated string or as an array; unknown scopes are dropped. */
export function scopesFromClaim(claim: unknown): Set<string> {
  const values = typeof claim === "string" ? claim.split(/\s+/) : Array.isArray(claim) ? claim.filter((s): s is string => typeof s === "string") : [];
  return new Set(values.filter(isScope));
}

/** Fetch failures (network, timeout, non-200) as jose reports them; the base JOSEError class is what a bad HTTP answer raises. */
const keySetUnreachable = (err: unknown) => err instanceof errors.JWKSTimeout || !(err instanceof errors.JOSEError) || err.constructor === errors.JOSEError;

function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return "token expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "nbf") return "token not yet valid";
    return `claim ${err.claim} ${err.reason === "missing" ? "missing" : "rejected"}`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return "signature invalid";
  if (err instanceof errors.JWKSNoMatchingKey) return "no matching key in the JWKS";
  if (err instanceof errors.JOSEAlgNotAllowed) return "algorithm not accepted";
  if (err instanceof errors.JOSEError) return `token rejected (${err.code})`;
  throw err;
}

/** Verifies a JWT and turns its claims into a principal `jwt:<sub>` with the scopes of its `scope` claim. */
export async function verifyJwt(token: string, config: JwtConfig): Promise<JwtCheck> {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    return fail("malformed token");
  }
  const options: JWTVerifyOptions = {
    issuer: config.issuer,
    audience: config.audience,
    requiredClaims: ["sub", "exp"],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
  };
  let payload: JWTPayload;
  let remote = false;
  try {
    if (typeof alg === "string" && HMAC_ALGORITHMS.includes(alg)) {
      if (!config.secret) return fail(`${alg} tokens are not accepted here`);
      ({ payload } = await jwtVerify(token, await hmacKey(config.secret), { ...options, algorithms: HMAC_ALGORITHMS }));
    } else if (typeof alg === "string" && ASYMMETRIC_ALGORITHMS.includes(alg)) {
      const keySet = asymmetricKeySet(config);
      if (!keySet) return fail(`${alg} tokens are not accepted here`);
      remote = !config.jwks;
      ({ payload } = await jwtVerify(token, keySet, { ...options, algorithms: ASYMMETRIC_ALGORITHMS }));
    } else {
      // alg is attacker-chosen text and ends up in a header: keep only a short, plain rendering of it.
      return fail(
        `algorithm ${
          String(alg)
            .replace(/[^\w-]/g, "")
            .slice(0, 20) || "(empty)"
        } not accepted`,
      );
    }
  } catch (err) {
    // An unreachable key server says nothing about the token: answer 503, not 401.
    if (remote && keySetUnreachable(err)) {
      console.error(JSON.stringify({ level: "error", message: "JWKS fetch failed", cause: String(err) }));
      throw new AppError("unavailable", "The signing keys (JWT_JWKS_URL) could not be fetched; retry shortly.", { headers: { "Retry-After": "5" } });
    }
    return fail(describe(err));
  }
  if (typeof payload.sub !== "string" || payload.sub === "") return fail("claim sub missing");
  return { ok: true, principal: { id: `jwt:${payload.sub}`, scopes: scopesFromClaim(payload.scope) } };
}
