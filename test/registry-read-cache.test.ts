import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { STALE_AFTER_MS } from "../src/registry/generation";
import { cached, writing } from "../src/registry/read-cache";
import { agentDetail, registryDb } from "../src/registry/store";
import { countingD1 } from "./counting-d1";
import { api, codeSpec } from "./helpers";

describe("registry read cache", () => {
  it("serves a hit while the registry generation it was read under is current, however long, and reloads when it moves", async () => {
    let loads = 0;
    const load = async () => ++loads;
    expect(await cached("k1", 7, load)).toBe(1);
    expect(await cached("k1", 7, load)).toBe(1);
    expect(await cached("k1", 8, load)).toBe(2);
    expect(await cached("k1", 8, load)).toBe(2);
  });

  it("is cleared by a write", async () => {
    let value = "old";
    expect(await cached("k2", 1, async () => value)).toBe("old");
    await writing(async () => void (value = "new"));
    expect(await cached("k2", 1, async () => value)).toBe("new");
  });

  it("never keeps a value whose read overlapped a write, even when the read ends after the write", async () => {
    let value = "old";
    let release!: () => void;
    const write = writing(() => new Promise<void>((resolve) => (release = () => ((value = "new"), resolve()))));
    // This read sees the old value and answers only once the write (and its clearing) is over:
    // without the guard it would cache "old" until the generation moves.
    let finishRead!: () => void;
    const overlapping = cached("k3", 1, () => {
      const seen = value;
      return new Promise<string>((resolve) => (finishRead = () => resolve(seen)));
    });
    release();
    await write;
    finishRead();
    expect(await overlapping).toBe("old");
    expect(await cached("k3", 1, async () => value)).toBe("new");
  });

  it("GET /agents/{id}: a warm read costs no D1 query, and a change made by another isolate shows within 1 s", async () => {
    const created = await api("POST", "/api/v1/agents", { body: codeSpec("cached-detail", "1.0.0") });
    await api("PUT", `/api/v1/agents/${created.json.id}`, { body: codeSpec("cached-detail", "2.0.0") });
    const live = async (d1: D1Database = env.DB) => ((await agentDetail(registryDb(d1), created.json.id)) as { channels: Record<string, string> }).channels.live;
    expect(await live()).toBe("1.0.0");
    // Unchanged, the entry outlives any fixed TTL: reads for 1.3 s cost at most generation reads, never the detail's own batch.
    const counted = countingD1(env.DB);
    const from = Date.now();
    while (Date.now() - from < STALE_AFTER_MS + 300) {
      expect(await live(counted.db)).toBe("1.0.0");
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(counted.trips.filter((t) => t.batch)).toEqual([]);
    expect(counted.trips.length).toBeGreaterThan(0); // the generation was re-read meanwhile

    // Another isolate moves live: straight to D1, this isolate's caches hear nothing of it.
    const movedAt = Date.now();
    await env.DB.prepare("UPDATE channels SET version = '2.0.0' WHERE agent_id = ? AND channel = 'live'").bind(created.json.id).run();
    const seen: { startedAt: number; version: string | undefined }[] = [];
    while (Date.now() - movedAt < STALE_AFTER_MS + 300) {
      const startedAt = Date.now();
      seen.push({ startedAt, version: await live() });
      await new Promise((r) => setTimeout(r, 10));
    }
    const late = seen.filter((s) => s.startedAt - movedAt >= STALE_AFTER_MS);
    expect(late.length).toBeGreaterThan(0);
    expect(late.every((s) => s.version === "2.0.0")).toBe(true);
  });
});
