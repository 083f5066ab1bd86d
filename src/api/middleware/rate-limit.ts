import { waitUntil } from "cloudflare:workers";
import { createMiddleware } from "hono/factory";
import { rateLimitConfig } from "../../auth/rate-limiter";
import type { BucketConfig, BucketDecision } from "../../auth/token-bucket";
import { principalLeases } from "../../auth/token-lease";
import type { AppEnv, Env } from "../../env";
import { AppError } from "../../errors";
import { log } from "../../observability/log";
import { setResponseHeaders } from "./response-headers";

/** The bucket that rate-limits one principal (API keys have theirs in their key object, see keyObjectName). */
export const rateLimiterFor = (env: Env, principalId: string) => env.RATE_LIMITER.getByName(principalId);

/** One token for `principalId`: from this isolate's lease when it holds one, else from the bucket (token-lease.ts). */
async function takeLeased(env: Env, principalId: string, config: BucketConfig): Promise<BucketDecision> {
  const now = Date.now();
  const leased = principalLeases.spend(principalId, now);
  if (leased) {
    topUpBehind(env, principalId, config, now);
    return leased.decision;
  }
  const size = principalLeases.sizeFor(principalId, config.capacity, now);
  const { decision, granted } = await rateLimiterFor(env, principalId).takeUpTo(config, size);
  return principalLeases.granted(principalId, { holder: undefined, decision, granted, size, askedAt: now });
}

/** Tops a running-low lease up after the answer: no request waits for it (token-lease.ts). */
function topUpBehind(env: Env, principalId: string, config: BucketConfig, now: number): void {
  const topUp = principalLeases.topUpBehind(principalId, config.capacity, now, async (want) => ({
    holder: undefined,
    ...(await rateLimiterFor(env, principalId).takeUpTo(config, want)),
    askedAt: now,
  }));
  if (topUp) waitUntil(topUp.catch((error: unknown) => log.warn("rate_limit.top_up_failed", { error })));
}

/** IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers), as most clients read them today. */
export function rateLimitHeaders(d: BucketDecision, config: BucketConfig): Record<string, string> {
  return {
    "RateLimit-Limit": String(d.limit),
    "RateLimit-Remaining": String(d.remaining),
    "RateLimit-Reset": String(d.resetSeconds),
    "RateLimit-Policy": `${config.capacity};w=${Math.ceil((config.capacity * 60) / config.refillPerMinute)}`,
  };
}

/** One token per request from the caller's bucket, after authentication; a single Durable Object call (none more for API keys). */
export const rateLimit = createMiddleware<AppEnv>(async (c, next) => {
  // A route that authenticates by other means (e.g. a WebSocket with ?token=) has no principal here: nothing to charge.
  const principal = c.get("principal") as AppEnv["Variables"]["principal"] | undefined;
  if (!principal) return next();
  const config = rateLimitConfig(c.env);
  const decision = c.get("rateLimit") ?? (await takeLeased(c.env, principal.id, config));
  const headers = rateLimitHeaders(decision, config);
  if (!decision.allowed) {
    throw new AppError("rate_limited", `Rate limit of ${config.capacity} requests (refilling ${config.refillPerMinute}/min) reached; retry in ${decision.retryAfterSeconds} s.`, {
      retryAfterSeconds: decision.retryAfterSeconds,
      headers: { ...headers, "Retry-After": String(decision.retryAfterSeconds) },
    });
  }
  await next();
  if (c.res.status === 101) return; // a WebSocket handshake: its response carries the socket and is left as it is
  setResponseHeaders(c, headers);
});
