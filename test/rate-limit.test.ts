import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { rateLimiterFor } from "../src/api/middleware/rate-limit";
import { hashApiKey, keyObjectName } from "../src/auth/keys";
import { RateLimiter, rateLimitConfig } from "../src/auth/rate-limiter";
import { bucketConfigFromVars, refill, takeTokens, type BucketConfig, type BucketDecision, type BucketState } from "../src/auth/token-bucket";
import { api } from "./helpers";

const config: BucketConfig = { capacity: 10, refillPerMinute: 60 }; // one token per second

describe("token bucket math", () => {
  it("starts full and takes one token per request until empty", () => {
    let state: BucketState | undefined;
    const remaining: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = takeTokens(state, 0, config);
      expect(r.decision.allowed).toBe(true);
      remaining.push(r.decision.remaining);
      state = r.state;
    }
    expect(remaining).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    const denied = takeTokens(state, 0, config);
    expect(denied.decision).toEqual({ allowed: false, limit: 10, remaining: 0, resetSeconds: 10, retryAfterSeconds: 1 });
    // A denial costs nothing: the bucket is unchanged.
    expect(denied.state).toEqual(state);
  });

  it("refills continuously at refillPerMinute and never above capacity", () => {
    const empty = { tokens: 0, updatedAt: 1_000 };
    expect(refill(empty, 1_000 + 2_500, config).tokens).toBeCloseTo(2.5);
    expect(refill(empty, 1_000 + 60_000, config).tokens).toBe(10);
    expect(refill({ tokens: 0, updatedAt: 0 }, 30_000, { capacity: 100, refillPerMinute: 100 }).tokens).toBeCloseTo(50);
  });

  it("allows again once a whole token has dripped in, and says when in Retry-After", () => {
    const empty = { tokens: 0, updatedAt: 0 };
    const tooSoon = takeTokens(empty, 400, config);
    expect(tooSoon.decision.allowed).toBe(false);
    expect(tooSoon.decision.retryAfterSeconds).toBe(1); // 0.6 s rounded up
    const slow = takeTokens(empty, 0, { capacity: 5, refillPerMinute: 2 });
    expect(slow.decision.retryAfterSeconds).toBe(30);
    expect(slow.decision.resetSeconds).toBe(150);
    const later = takeTokens(empty, 1_000, config);
    expect(later.decision).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("reports reset as the seconds until the bucket is full again", () => {
    const r = takeTokens({ tokens: 7.5, updatedAt: 0 }, 0, config);
    expect(r.decision).toMatchObject({ allowed: true, remaining: 6, resetSeconds: 4 }); // 3.5 tokens at 1/s
  });

  it("does not take tokens away when the clock steps backwards", () => {
    const state = { tokens: 4, updatedAt: 10_000 };
    expect(refill(state, 5_000, config)).toEqual({ tokens: 4, updatedAt: 10_000 });
  });

  it("caps a bucket at a lowered capacity", () => {
    expect(takeTokens({ tokens: 50, updatedAt: 0 }, 0, config).decision.remaining).toBe(9);
  });

  it("takes weighted costs and refuses impossible ones", () => {
    expect(takeTokens(undefined, 0, config, 10).decision).toMatchObject({ allowed: true, remaining: 0 });
    expect(() => takeTokens(undefined, 0, config, 11)).toThrow(RangeError);
    expect(() => takeTokens(undefined, 0, { capacity: 1, refillPerMinute: 0 })).toThrow(RangeError);
  });

  it("reads its config from vars, defaulting to 100/100 and refusing nonsense", () => {
    expect(bucketConfigFromVars(undefined, undefined)).toEqual({ capacity: 100, refillPerMinute: 100 });
    expect(bucketConfigFromVars("20", "5")).toEqual({ capacity: 20, refillPerMinute: 5 });
    expect(() => bucketConfigFromVars("many", "5")).toThrow(/RATE_LIMIT_CAPACITY/);
    expect(() => bucketConfigFromVars("10", "0")).toThrow(/RATE_LIMIT_PER_MINUTE/);
  });
});

describe("RateLimiter Durable Object", () => {
  it("writes the bucket behind, in an alarm, so it survives a restart of the object", async () => {
    const stub = rateLimiterFor(env, "test:persist");
    // The stub is typed with the app's Env, the cloudflare:test helpers with the test Env (which adds TEST_MIGRATIONS).
    const untyped = stub as unknown as DurableObjectStub;
    const stored = () => runInDurableObject<DurableObject, BucketState | undefined>(untyped, (_i, state) => state.storage.kv.get<BucketState>("bucket"));

    expect((await stub.take(config)).remaining).toBe(9);
    expect((await stub.take(config, 3)).remaining).toBe(6);
    expect(await stored()).toBeUndefined(); // not on the request path
    expect(await runInDurableObject<DurableObject, number | null>(untyped, (_i, state) => state.storage.getAlarm())).toEqual(expect.any(Number));

    expect(await runDurableObjectAlarm(untyped)).toBe(true);
    expect((await stored())?.tokens).toBeCloseTo(6, 1);
    expect(await runDurableObjectAlarm(untyped)).toBe(false); // one alarm per burst of takes

    const afterRestart = await runInDurableObject<DurableObject, BucketDecision>(untyped, (_instance, state) => {
      // A new instance over the same storage is what the runtime builds after eviction: memory is gone, storage is not.
      const fresh = new RateLimiter(state, env);
      return fresh.take(config);
    });
    expect(afterRestart.remaining).toBe(5);
  });

  it("keeps buckets of different principals apart", async () => {
    const a = rateLimiterFor(env, "test:a");
    const b = rateLimiterFor(env, "test:b");
    await a.take(config, 10);
    expect((await a.take(config)).allowed).toBe(false);
    expect(await b.take(config)).toMatchObject({ allowed: true, remaining: 9 });
  });
});

describe("rate limit middleware", () => {
  async function newKey(name: string) {
    const res = await api("POST", "/api/v1/keys", { body: { name, scopes: ["agents:read"] } });
    expect(res.status).toBe(201);
    return res.json as { id: string; key: string };
  }

  it("sets RateLimit-* headers on successful authenticated responses", async () => {
    const { key } = await newKey("headers");
    const limit = rateLimitConfig(env);
    const first = await api("GET", "/api/v1/agents", { token: key });
    const second = await api("GET", "/api/v1/agents", { token: key });
    expect(first.status).toBe(200);
    expect(first.headers.get("RateLimit-Limit")).toBe(String(limit.capacity));
    expect(Number(first.headers.get("RateLimit-Remaining"))).toBe(limit.capacity - 1);
    expect(Number(second.headers.get("RateLimit-Remaining"))).toBe(limit.capacity - 2);
    expect(Number(second.headers.get("RateLimit-Reset"))).toBeGreaterThan(0);
    // Errors after the limiter spent a token say so too.
    const missing = await api("GET", "/api/v1/agents/no-such-agent", { token: key });
    expect(missing.status).toBe(404);
    expect(Number(missing.headers.get("RateLimit-Remaining"))).toBe(limit.capacity - 3);
  });

  it("answers 429 problem+json with Retry-After once a credential's bucket is empty, leaving other credentials alone", async () => {
    const drained = await newKey("drained");
    const other = await newKey("other");
    const limit = rateLimitConfig(env);
    // Empty the bucket in one weighted take rather than a million requests; the refill in the tests is 1/min.
    // An API key's bucket lives in its key object, named by the key's hash.
    await env.RATE_LIMITER.getByName(keyObjectName(await hashApiKey(drained.key))).take(limit, limit.capacity);

    const res = await api("GET", "/api/v1/agents", { token: drained.key });
    expect(res.status).toBe(429);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.json).toMatchObject({ type: "/problems/rate-limited", status: 429, retryAfterSeconds: 60 });
    expect(res.headers.get("Retry-After")).toBe("60");
    expect(res.headers.get("RateLimit-Limit")).toBe(String(limit.capacity));
    expect(res.headers.get("RateLimit-Remaining")).toBe("0");
    expect(Number(res.headers.get("RateLimit-Reset"))).toBeGreaterThanOrEqual(60);

    expect((await api("GET", "/api/v1/agents", { token: other.key })).status).toBe(200);
    expect((await api("GET", "/api/v1/agents")).status).toBe(200);
  });

  it("does not charge unauthenticated or public requests", async () => {
    const health = await api("GET", "/api/v1/health", { token: null });
    expect(health.status).toBe(200);
    expect(health.headers.get("RateLimit-Limit")).toBeNull();
    const anonymous = await api("GET", "/api/v1/agents", { token: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("RateLimit-Limit")).toBeNull();
  });
});
