import { SignJWT, jwtVerify } from "jose";
import { decodeBase64, encodeBase64 } from "../encoding";

/**
 * Short-lived stream tokens for browsers (which cannot set headers on a WebSocket). Each stream owner (a squad,
 * a topic's stream object) signs with its own random key kept in its storage, and the audience names the one
 * stream, so a token only ever opens the stream it was issued for.
 */
export const STREAM_TOKEN_TTL_SECONDS = 120;

/** Header the API sets on the stream upgrade it forwards after authenticating a bearer credential itself. */
export const STREAM_PRINCIPAL_HEADER = "x-tdev-stream-principal";

export function newStreamKey(): string {
  return encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
}

function keyBytes(key: string): Uint8Array {
  const bytes = decodeBase64(key);
  if (!bytes) throw new Error("stream key is not base64"); // keys come only from newStreamKey
  return bytes;
}
/** `audience` names the stream, e.g. `squad:<id>` or `subscription:<id>`. */
/** An object's stream-token signing key, made on first use and kept in its storage. */
export function storedStreamKey(kv: SyncKvStorage): string {
  let key = kv.get<string>("stream_key");
  if (!key) {
    key = newStreamKey();
    kv.put("stream_key", key);
  }
  return key;
}

export async function issueStreamToken(key: string, audience: string, principal: string, now = Date.now()): Promise<{ token: string; expiresAt: string }> {
  const iat = Math.floor(now / 1000);
  const exp = iat + STREAM_TOKEN_TTL_SECONDS;
  const token = await new SignJWT({ scope: "stream" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(principal)
    .setAudience(audience)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(keyBytes(key));
  return { token, expiresAt: new Date(exp * 1000).toISOString() };
}

/** The principal the token was issued to, or null if it is forged, expired or for another stream. */
export async function verifyStreamToken(key: string, audience: string, token: string): Promise<string | null> {
  try {
    const { payload } = await jwtVerify(token, keyBytes(key), { algorithms: ["HS256"], audience });
    return payload.scope === "stream" && typeof payload.sub === "string" ? payload.sub : null;
  } catch {
    return null;
  }
}
