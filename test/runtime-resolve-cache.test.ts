import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { freshness, readGeneration, REFRESH_AFTER_MS, STALE_AFTER_MS } from "../src/registry/generation";
import { resolveCached } from "../src/runtime/resolve-cache";
import { countingD1 } from "./counting-d1";
import { api, codeSpec } from "./helpers";

describe("resolution cache", () => {
  it("serves a copy of the generation while fresh, refreshes it behind the run, and never uses one a second old", () => {
    const read = { readAt: 10_000, localAt: 3 };
    expect(freshness(read, 10_000 + REFRESH_AFTER_MS - 1, 3)).toBe("fresh");
    expect(freshness(read, 10_000 + REFRESH_AFTER_MS, 3)).toBe("refresh");
    expect(freshness(read, 10_000 + STALE_AFTER_MS - 1, 3)).toBe("refresh");
    expect(freshness(read, 10_000 + STALE_AFTER_MS, 3)).toBe("stale");
    expect(freshness(read, 10_001, 4)).toBe("stale"); // this isolate wrote to the registry since
    expect(freshness(undefined, 0, 0)).toBe("stale");
  });

  it("bumps the registry generation with every agent, version and channel change, whoever writes it", async () => {
    const before = (await readGeneration(env.DB)).generation;
    const created = await api("POST", "/api/v1/agents", { body: codeSpec("gen-bump", "1.0.0") });
    const afterCreate = (await readGeneration(env.DB)).generation;
    expect(afterCreate).toBeGreaterThan(before);
    await env.DB.prepare("UPDATE channels SET updated_at = updated_at + 1 WHERE agent_id = ?").bind(created.json.id).run();
    expect((await readGeneration(env.DB)).generation).toBeGreaterThan(afterCreate);
  });

  it("resolves a warm reference with no D1 query at all", async () => {
    await api("POST", "/api/v1/agents", { body: codeSpec("warm-ref", "1.0.0") });
    await resolveCached(env.DB, "warm-ref"); // fills the caches and reads the generation
    const { db, trips } = countingD1(env.DB);
    for (let i = 0; i < 20; i++) expect((await resolveCached(db, "warm-ref")).spec.version).toBe("1.0.0");
    expect(trips).toEqual([]);
  });

  it("sees a channel move made elsewhere within 1 s, and at once after a write through this isolate", async () => {
    const created = await api("POST", "/api/v1/agents", { body: codeSpec("moved", "1.0.0") });
    await api("PUT", `/api/v1/agents/${created.json.id}`, { body: codeSpec("moved", "2.0.0") });
    expect((await resolveCached(env.DB, "moved")).spec.version).toBe("1.0.0");

    // Another isolate moves live: the write goes straight to D1, this isolate's caches hear nothing of it.
    const movedAt = Date.now();
    await env.DB.prepare("UPDATE channels SET version = '2.0.0' WHERE agent_id = ? AND channel = 'live'").bind(created.json.id).run();
    const seen: { startedAt: number; version: string }[] = [];
    while (Date.now() - movedAt < STALE_AFTER_MS + 300) {
      const startedAt = Date.now();
      seen.push({ startedAt, version: (await resolveCached(env.DB, "moved")).spec.version });
      await new Promise((r) => setTimeout(r, 10));
    }
    const late = seen.filter((s) => s.startedAt - movedAt >= STALE_AFTER_MS);
    expect(late.length).toBeGreaterThan(0);
    expect(late.every((s) => s.version === "2.0.0")).toBe(true);

    // A move through this isolate's API takes effect in it immediately.
    expect((await api("PUT", `/api/v1/agents/${created.json.id}/channels/live`, { body: { version: "1.0.0" } })).status).toBeLessThan(300);
    expect((await resolveCached(env.DB, "moved")).spec.version).toBe("1.0.0");
  });
});
