import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { publishEvent } from "../src/messaging/events";
import { type EventHub, publishToHub, RETAIN_PER_TOPIC } from "../src/observability/event-hub";
import { waitFor } from "./messaging-helpers";

/** A hub of its own per test (the class is the same as the global one), read back through its storage. */
const hub = (name: string) => env.EVENT_HUB.getByName(`test-${name}`);
const stored = (name: string, topic: string) =>
  runInDurableObject(hub(name), (_instance: EventHub, state) =>
    state.storage.sql.exec<{ seq: number; type: string }>("SELECT seq, type FROM events WHERE topic = ? ORDER BY seq", topic).toArray(),
  );

describe("EventHub.publish", () => {
  it("numbers a topic's events itself when the source has no seq, each topic on its own", async () => {
    const h = hub("numbering");
    expect([await h.publish("system", "a.one", {}), await h.publish("system", "a.two", {}), await h.publish("evolution", "b.one", {})]).toEqual([1, 2, 1]);
    expect(await h.publish("system", "a.three", { x: 1 })).toBe(3);
    expect((await stored("numbering", "system")).map((r) => r.type)).toEqual(["a.one", "a.two", "a.three"]);
  });

  it("keeps the source's seq, and a retried publish of that seq stores nothing new", async () => {
    const h = hub("source-seq");
    expect(await h.publish("squad:sqd_1", "task.queued", { n: 1 }, 5)).toBe(5);
    expect(await h.publish("squad:sqd_1", "task.started", { n: 2 }, 5)).toBe(5);
    expect(await stored("source-seq", "squad:sqd_1")).toEqual([{ seq: 5, type: "task.queued" }]);
    // A topic numbered here continues after the highest stored seq.
    expect(await h.publish("squad:sqd_1", "task.completed", {})).toBe(6);
  });

  it("keeps the last RETAIN_PER_TOPIC events of each topic", async () => {
    const over = 7;
    await runInDurableObject(hub("retention"), (instance: EventHub) => {
      for (let i = 0; i < RETAIN_PER_TOPIC + over; i++) instance.publish("system", "x.y", { i });
      instance.publish("deployments", "d.y", {});
    });
    const kept = await stored("retention", "system");
    expect(kept).toHaveLength(RETAIN_PER_TOPIC);
    expect(kept[0]!.seq).toBe(over + 1);
    expect(kept.at(-1)!.seq).toBe(RETAIN_PER_TOPIC + over);
    expect(await stored("retention", "deployments")).toHaveLength(1);
  });

  it("refuses topics the stream does not carry", async () => {
    expect(await hub("refuse").publish("secrets", "x.y", {})).toBe(-1);
    expect(await hub("refuse").publish("squad:*", "x.y", {})).toBe(-1);
  });
});

describe("publishing to the global hub", () => {
  const global = () => env.EVENT_HUB.getByName("global");
  const storedTypes = (topic: string) =>
    runInDurableObject(global(), (_instance: EventHub, state) =>
      state.storage.sql
        .exec<{ type: string }>("SELECT type FROM events WHERE topic = ? ORDER BY seq", topic)
        .toArray()
        .map((r) => r.type),
    );

  it("events published close together are all stored, in order", async () => {
    for (const n of [1, 2, 3]) publishToHub(env, "deployments", `close.e${n}`, { n });
    expect(await waitFor(async () => (await storedTypes("deployments")).length === 3 && storedTypes("deployments"), 5_000, "three events")).toEqual([
      "close.e1",
      "close.e2",
      "close.e3",
    ]);
  });

  it("without MESSAGE_KEYS a system event still reaches the hub, and the missing keys are reported once", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const unkeyed = { ...env, MESSAGE_KEYS: undefined };
    await publishEvent(unkeyed, "evolution", "unkeyed.one", {});
    await publishEvent(unkeyed, "evolution", "unkeyed.two", {});
    const reports = errors.mock.calls.filter(([line]) => String(line).includes("MESSAGE_KEYS is not set"));
    errors.mockRestore();
    expect(reports).toHaveLength(1);
    expect(await waitFor(async () => (await storedTypes("evolution")).length === 2 && storedTypes("evolution"), 5_000, "two events")).toEqual(["unkeyed.one", "unkeyed.two"]);
  });
});
