import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { hashApiKey } from "../src/auth/keys";
import { RateLimiter } from "../src/auth/rate-limiter";
import { takeUpTo, type BucketConfig } from "../src/auth/token-bucket";
import { apiKeyLeases, BUSY_GAP_MS, LEASE_TTL_MS, LeaseBook, MAX_LEASE, nextLeaseSize, principalLeases } from "../src/auth/token-lease";
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

  it("tops a lease up once it is half spent or half way to expiry, one top-up at a time, never above the next size", () => {
    const book = new LeaseBook<string>();
    book.granted("k", { holder: "p", decision, granted: 8, size: 8, askedAt: 1_000 }); // 7 left after this request
    book.spend("k", 1_001);
    book.spend("k", 1_002); // 5 left
    expect(book.topUpFor("k", 1_000_000, 1_002)).toBe(0); // more than half left, far from expiry
    book.spend("k", 1_003); // 4 left: half spent
    expect(book.topUpFor("k", 1_000_000, 1_003)).toBe(16 - 4); // refills to the next (doubled) size
    expect(book.topUpFor("k", 1_000_000, 1_003)).toBe(0); // one at a time
    book.spend("k", 1_004); // 3 left while the top-up is on its way
    book.toppedUp("k", { holder: "p", decision: { ...decision, remaining: 30 }, granted: 12, askedAt: 1_003 }, 1_005);
    expect(book.spend("k", 1_005)).toEqual({ holder: "p", decision: { ...decision, remaining: 30 + 14 } }); // 3 + 12 - 1
    expect(book.spend("k", 1_003 + LEASE_TTL_MS - 1)).toBeDefined(); // the topped-up lease lives a TTL from its top-up
    expect(book.spend("k", 1_003 + LEASE_TTL_MS)).toBeUndefined();

    const timed = new LeaseBook<string>();
    timed.granted("k", { holder: "p", decision, granted: 8, size: 8, askedAt: 5_000 }); // 7 left
    timed.spend("k", 5_300);
    expect(timed.topUpFor("k", 1_000_000, 5_300)).toBe(0);
    timed.spend("k", 5_000 + LEASE_TTL_MS / 2); // 5 left, half way to expiry
    expect(timed.topUpFor("k", 1_000_000, 5_000 + LEASE_TTL_MS / 2)).toBe(16 - 5);
    timed.toppedUp("k", undefined); // the top-up failed: the lease runs on, and the next request may try again
    expect(timed.spend("k", 5_000 + LEASE_TTL_MS / 2 + 1)).toBeDefined();
    expect(timed.topUpFor("k", 1_000_000, 5_000 + LEASE_TTL_MS / 2 + 1)).toBe(16 - 4);
    timed.toppedUp("k", { holder: "p", decision: { ...decision, allowed: false, remaining: 0 }, granted: 0, askedAt: 5_600 }, 5_600);
    expect(timed.spend("k", 5_601)).toMatchObject({ decision: { allowed: true, remaining: 53 } }); // a denied top-up leaves what is leased
    expect(timed.topUpFor("k", 1_000_000, 5_601)).toBe(16 - 3);
    timed.forget("k"); // revoked while the top-up was on its way: it stays forgotten
    timed.toppedUp("k", { holder: "p", decision, granted: 13, askedAt: 5_601 }, 5_602);
    expect(timed.spend("k", 5_603)).toBeUndefined();

    // An idle credential (requests further apart than BUSY_GAP_MS) is never topped up: it would only lose what it leased.
    const idle = new LeaseBook<string>();
    idle.granted("k", { holder: "p", decision, granted: 4, size: 4, askedAt: 9_000 });
    idle.spend("k", 9_000 + BUSY_GAP_MS + 1);
    idle.spend("k", 9_000 + 2 * BUSY_GAP_MS + 2); // 1 left
    expect(idle.topUpFor("k", 1_000_000, 9_000 + 2 * BUSY_GAP_MS + 2)).toBe(0);
  });

  it("a busy credential's requests spend from a lease its top-ups keep full: after the first few, none asks the bucket", async () => {
    principalLeases.forget("admin");
    const asked = vi.spyOn(principalLeases, "sizeFor"); // called only by a request that must wait for the bucket
    const taken = vi.spyOn(RateLimiter.prototype, "takeUpTo");
    try {
      for (let i = 0; i < 150; i++) expect((await api("GET", "/api/v1/agents?limit=1")).status).toBe(200);
      // Growing 1, 2, 4, 8 ... a lease without top-ups makes 150 requests wait about 9 times; top-ups leave the first few.
      expect(asked.mock.calls.length).toBeLessThanOrEqual(4);
      expect(taken.mock.calls.length).toBeGreaterThan(asked.mock.calls.length);
    } finally {
      asked.mockRestore();
      taken.mockRestore();
    }
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
    // Busy, the key's lease is topped up behind the answers: only the first few requests wait for its object.
    // From a fresh lease (1, 2, 4 ... tokens), 150 requests without top-ups would wait about 9 times.
    apiKeyLeases.forget(await hashApiKey(key));
    const asked = vi.spyOn(apiKeyLeases, "sizeFor");
    const taken = vi.spyOn(RateLimiter.prototype, "takeForKey");
    try {
      for (let i = 0; i < 150; i++) expect((await api("GET", "/api/v1/agents?limit=1", { token: key })).status).toBe(200);
      expect(asked.mock.calls.length).toBeLessThanOrEqual(4);
      expect(taken.mock.calls.length).toBeGreaterThan(asked.mock.calls.length);
    } finally {
      asked.mockRestore();
      taken.mockRestore();
    }
    expect((await api("DELETE", `/api/v1/keys/${(created.json as { id: string }).id}`)).status).toBeLessThan(300);
    const refused = await api("GET", "/api/v1/agents?limit=1", { token: key });
    expect(refused.status).toBe(401);
  });
});
