import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { RateLimiter } from "../src/auth/rate-limiter";
import { takeUpTo, type BucketConfig } from "../src/auth/token-bucket";
import { BUSY_GAP_MS, LEASE_TTL_MS, LeaseBook, MAX_LEASE, nextLeaseSize } from "../src/auth/token-lease";
import { api } from "./helpers";

const decision = { allowed: true, limit: 100, remaining: 50, resetSeconds: 30, retryAfterSeconds: 0 };

describe("rate-limit token leases", () => {
  it("asks for one token when the credential was idle, doubles while it is busy, and never asks above 5% of capacity or MAX_LEASE", () => {
    expect(nextLeaseSize(undefined, 0, 1_000)).toBe(1);
    expect(nextLeaseSize({ usedAt: 0, size: 4 }, BUSY_GAP_MS + 1, 1_000)).toBe(1);
    expect(nextLeaseSize({ usedAt: 0, size: 4 }, BUSY_GAP_MS, 1_000)).toBe(8);
    expect(nextLeaseSize({ usedAt: 0, size: 32 }, 1, 1_000_000)).toBe(MAX_LEASE);
    expect(nextLeaseSize({ usedAt: 0, size: 4 }, 1, 100)).toBe(5);
    expect(nextLeaseSize({ usedAt: 0, size: 1 }, 1, 10)).toBe(1); // a tiny bucket is never leased
  });

  it("spends a lease locally, counting unspent tokens as remaining, until it is empty or a second old", () => {
    const book = new LeaseBook<string>();
    expect(book.granted("k", { holder: "p", decision, granted: 3, size: 3, askedAt: 1_000 })).toMatchObject({ allowed: true, remaining: 52 });
    expect(book.spend("k", 1_001)).toEqual({ holder: "p", decision: { ...decision, remaining: 51 } });
    expect(book.spend("k", 1_002)).toEqual({ holder: "p", decision: { ...decision, remaining: 50 } });
    expect(book.spend("k", 1_003)).toBeUndefined(); // spent: ask the bucket
    book.granted("k", { holder: "p", decision, granted: 4, size: 4, askedAt: 2_000 });
    expect(book.spend("k", 2_000 + LEASE_TTL_MS)).toBeUndefined(); // expired
    book.granted("k", { holder: "p", decision, granted: 4, size: 4, askedAt: 3_000, expiresAt: 3_010 });
    expect(book.spend("k", 3_010)).toBeUndefined(); // a key expiring sooner ends its lease with it
    book.granted("k", { holder: "p", decision, granted: 4, size: 4, askedAt: 4_000 });
    book.forget("k");
    expect(book.spend("k", 4_001)).toBeUndefined();
    const denied = { ...decision, allowed: false, remaining: 0, retryAfterSeconds: 3 };
    expect(book.granted("k", { holder: "p", decision: denied, granted: 0, size: 8, askedAt: 5_000 })).toEqual(denied);
    expect(book.spend("k", 5_001)).toBeUndefined();
  });

  it("a bucket grants what it holds, at least one token, and denies when empty", () => {
    const config: BucketConfig = { capacity: 10, refillPerMinute: 1 };
    const first = takeUpTo(undefined, 0, config, 8);
    expect([first.granted, first.decision.remaining]).toEqual([8, 2]);
    const second = takeUpTo(first.state, 0, config, 8);
    expect([second.granted, second.decision.allowed, second.decision.remaining]).toEqual([2, true, 0]);
    const third = takeUpTo(second.state, 0, config, 8);
    expect([third.granted, third.decision.allowed]).toEqual([0, false]);
  });

  it("isolates leasing from one real bucket never let more through than it holds, with far fewer calls to it", async () => {
    const config: BucketConfig = { capacity: 400, refillPerMinute: 1 };
    const bucket = env.RATE_LIMITER.getByName("test:lease-many-isolates");
    const isolates = [new LeaseBook<undefined>(), new LeaseBook<undefined>(), new LeaseBook<undefined>()];
    let calls = 0;
    let allowed = 0;
    // Round robin over three isolates, each busy (its requests close together): first within the bucket, then past it.
    const request = async (i: number) => {
      const book = isolates[i % 3]!;
      const now = Date.now();
      let d = book.spend("admin", now)?.decision;
      if (!d) {
        const size = book.sizeFor("admin", config.capacity, now);
        calls++;
        const grant = await bucket.takeUpTo(config, size);
        d = book.granted("admin", { holder: undefined, ...grant, size, askedAt: now });
      }
      if (d.allowed) allowed++;
    };
    for (let i = 0; i < 300; i++) await request(i);
    expect(allowed).toBe(300);
    expect(calls).toBeLessThan(300 / 5);
    for (let i = 300; i < 600; i++) await request(i);
    expect(allowed).toBeGreaterThanOrEqual(400 - 3 * MAX_LEASE); // at most what isolates still hold unspent goes unused
    expect(allowed).toBeLessThanOrEqual(401); // never more than the bucket held (plus one token dripping in meanwhile)
  });

  it("an API key's requests close together skip its object, and revoking the key refuses the very next request", async () => {
    const created = await api("POST", "/api/v1/keys", { body: { name: "leased", scopes: ["agents:read"] } });
    const key = (created.json as { key: string; id: string }).key;
    const spy = vi.spyOn(RateLimiter.prototype, "takeForKey");
    try {
      for (let i = 0; i < 20; i++) expect((await api("GET", "/api/v1/agents?limit=1", { token: key })).status).toBe(200);
      expect(spy.mock.calls.length).toBeGreaterThan(0);
      expect(spy.mock.calls.length).toBeLessThan(10);
    } finally {
      spy.mockRestore();
    }
    expect((await api("DELETE", `/api/v1/keys/${(created.json as { id: string }).id}`)).status).toBeLessThan(300);
    const refused = await api("GET", "/api/v1/agents?limit=1", { token: key });
    expect(refused.status).toBe(401);
  });
});
