import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { STALE_AFTER_MS } from "../src/change-counter";
import { subscribersOf, subscriptionById } from "../src/messaging/subscription-cache";
import { createSubscription, deleteSubscription } from "../src/messaging/subscriptions";
import { countingD1 } from "./counting-d1";

const websocket = { type: "websocket" as const, eventTypes: [] };

/** Polls `read` for STALE_AFTER_MS + 300 ms after a change made at `changedAt`; every read begun a full bound later must satisfy `ok`. */
async function seenWithinBound<T>(changedAt: number, read: () => Promise<T>, ok: (value: T) => boolean) {
  const seen: { startedAt: number; ok: boolean }[] = [];
  while (Date.now() - changedAt < STALE_AFTER_MS + 300) {
    const startedAt = Date.now();
    seen.push({ startedAt, ok: ok(await read()) });
    await new Promise((r) => setTimeout(r, 10));
  }
  const late = seen.filter((s) => s.startedAt - changedAt >= STALE_AFTER_MS);
  expect(late.length).toBeGreaterThan(0);
  expect(late.every((s) => s.ok)).toBe(true);
}

describe("subscription cache (consumers)", () => {
  it("a warm fan-out and a warm delivery read no subscription from D1", async () => {
    const sub = await createSubscription(env, "cache-warm", websocket, "test");
    expect((await subscribersOf(env.DB, "cache-warm")).map((s) => s.id)).toEqual([sub.id]);
    expect((await subscriptionById(env.DB, sub.id))?.topic).toBe("cache-warm");
    const counted = countingD1(env.DB);
    for (let i = 0; i < 10; i++) {
      expect((await subscribersOf(counted.db, "cache-warm")).map((s) => s.id)).toEqual([sub.id]);
      expect((await subscriptionById(counted.db, sub.id))?.id).toBe(sub.id);
    }
    // At most the change counter, refreshed behind; never the subscriptions table.
    expect(counted.trips.filter((t) => !t.single?.includes("subscription_generation"))).toEqual([]);
  });

  it("sees a subscription created or deleted through this isolate at once", async () => {
    expect(await subscribersOf(env.DB, "cache-local")).toEqual([]);
    const sub = await createSubscription(env, "cache-local", websocket, "test");
    expect((await subscribersOf(env.DB, "cache-local")).map((s) => s.id)).toEqual([sub.id]);
    await deleteSubscription(env.DB, "cache-local", sub.id);
    expect(await subscribersOf(env.DB, "cache-local")).toEqual([]);
    expect(await subscriptionById(env.DB, sub.id)).toBeUndefined();
  });

  it("sees a subscription created, then deleted, by another isolate within 1 s", async () => {
    expect(await subscribersOf(env.DB, "cache-remote")).toEqual([]);
    // Another isolate writes straight to D1; this isolate's caches hear nothing of it.
    const createdAt = Date.now();
    await env.DB.prepare(
      "INSERT INTO subscriptions (id, topic, type, target, event_types, created_at, created_by) VALUES ('sub_remote', 'cache-remote', 'websocket', 'sub_remote', '[]', ?, 'test')",
    )
      .bind(createdAt)
      .run();
    await seenWithinBound(
      createdAt,
      () => subscribersOf(env.DB, "cache-remote"),
      (rows) => rows.some((r) => r.id === "sub_remote"),
    );
    expect((await subscriptionById(env.DB, "sub_remote"))?.topic).toBe("cache-remote");
    const deletedAt = Date.now();
    await env.DB.prepare("DELETE FROM subscriptions WHERE id = 'sub_remote'").run();
    await seenWithinBound(
      deletedAt,
      () => subscriptionById(env.DB, "sub_remote"),
      (row) => row === undefined,
    );
  });
});
