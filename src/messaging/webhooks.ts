import { toHex } from "../encoding";
import { checkPublicUrl } from "../net/address";

/**
 * Signed webhook deliveries. The receiver checks
 * `X-TDev-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
 * and rejects timestamps outside its tolerance, so a captured request cannot be replayed later.
 */

export const SIGNATURE_HEADER = "X-TDev-Signature";

/** A webhook answer slower than this counts as a failure (and is retried). */
const WEBHOOK_TIMEOUT_MS = 10_000;

const encoder = new TextEncoder();

async function hmacHex(secret: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(text));
  return toHex(mac);
}

export async function signatureHeader(secret: string, body: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<string> {
  return `t=${nowSeconds},v1=${await hmacHex(secret, `${nowSeconds}.${body}`)}`;
}

/** For receivers written against this system (and its tests): constant-time check with a freshness window. */
export async function verifySignature(secret: string, header: string, body: string, toleranceSeconds = 300, nowSeconds = Math.floor(Date.now() / 1000)): Promise<boolean> {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds || !parts.v1) return false;
  const expected = encoder.encode(await hmacHex(secret, `${t}.${body}`));
  const given = encoder.encode(parts.v1);
  return expected.byteLength === given.byteLength && crypto.subtle.timingSafeEqual(expected, given);
}

export interface WebhookCall {
  url: string;
  secret: string;
  body: string;
  headers: Record<string, string>;
}

export type WebhookOutcome = { ok: true; status: number } | { ok: false; permanent: boolean; error: string };

/**
 * Posts one signed delivery. 2xx = delivered; 408/429/5xx/network = retry; other 4xx = the receiver refuses it for good.
 * The URL is checked again here (a row may predate the check, or be restored from a backup) and redirects are
 * never followed: a 3xx could point at an internal address, so it fails the delivery for good.
 */
export async function postWebhook(call: WebhookCall): Promise<WebhookOutcome> {
  const verdict = checkPublicUrl(call.url);
  if (!verdict.ok) return { ok: false, permanent: true, error: `webhook ${call.url} refused (${verdict.rule}): ${verdict.detail}` };
  let res: Response;
  try {
    res = await fetch(call.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "t-developer-edge-webhooks",
        ...call.headers,
        [SIGNATURE_HEADER]: await signatureHeader(call.secret, call.body),
      },
      body: call.body,
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      redirect: "manual",
    });
  } catch (error) {
    return { ok: false, permanent: false, error: `webhook ${call.url} unreachable: ${error instanceof Error ? error.message : String(error)}` };
  }
  await res.body?.cancel();
  if (res.ok) return { ok: true, status: res.status };
  if (res.status >= 300 && res.status < 400) return { ok: false, permanent: true, error: `webhook ${call.url} answered a redirect (${res.status}), which is not followed` };
  const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
  return { ok: false, permanent: !retryable, error: `webhook ${call.url} answered ${res.status}` };
}
