import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { bandOf } from "../src/messaging/address";
import { byDeliveryOrder, circuitDelaySeconds, priorityLevels, retryDelaySeconds } from "../src/messaging/policy";
import { type MessageDraft, sendMessages } from "../src/messaging/producer";
import { createSubscription } from "../src/messaging/subscriptions";
import { waitFor, webhookReceiver } from "./messaging-helpers";

let receiver: ReturnType<typeof webhookReceiver> | undefined;
afterEach(() => receiver?.restore());

/** Share of (higher, lower) pairs where the lower-priority message took effect first. */
function inversions(order: number[], high: number, low: number): number {
  let seenLow = 0;
  let inverted = 0;
  for (const p of order) {
    if (p === low) seenLow++;
    else if (p === high) inverted += seenLow;
  }
  const pairs = order.filter((p) => p === high).length * order.filter((p) => p === low).length;
  return pairs === 0 ? 0 : inverted / pairs;
}

describe("priority", () => {
  it("maps ten levels to three bands", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(bandOf)).toEqual(["low", "low", "low", "normal", "normal", "normal", "normal", "high", "high", "high"]);
  });

  it("orders a batch by priority, then age, then id; levels group equal priorities", () => {
    const items = [
      { id: "b", priority: 5, createdAt: 2 },
      { id: "a", priority: 5, createdAt: 2 },
      { id: "c", priority: 9, createdAt: 3 },
      { id: "d", priority: 5, createdAt: 1 },
      { id: "e", priority: 0, createdAt: 0 },
    ];
    expect([...items].sort(byDeliveryOrder).map((i) => i.id)).toEqual(["c", "d", "a", "b", "e"]);
    expect(priorityLevels(items).map((level) => level.map((i) => i.id))).toEqual([["c"], ["d", "a", "b"], ["e"]]);
  });

  it("backs off exponentially, capped; breaker deferrals grow too", () => {
    expect([1, 2, 3, 4, 5].map((a) => retryDelaySeconds(a, 2))).toEqual([2, 4, 8, 16, 32]);
    expect(retryDelaySeconds(30, 2)).toBe(3600);
    expect(retryDelaySeconds(3, 0)).toBe(0);
    expect([0, 1, 2].map((d) => circuitDelaySeconds(d, 2))).toEqual([2, 4, 8]);
    expect(circuitDelaySeconds(0, 0)).toBe(1);
  });

  it("under a backlog posted at once, higher bands take effect before lower ones", async () => {
    receiver = webhookReceiver();
    const sub = await createSubscription(env, "backlog", { type: "webhook", url: "https://hooks.test/backlog", eventTypes: [] }, "test");
    const perBand = 120;
    const levels = [1, 5, 8]; // low, normal, high
    const drafts: MessageDraft[] = [];
    for (let i = 0; i < perBand; i++) {
      for (const priority of levels) {
        drafts.push({
          to: { subscription: sub.id },
          priority,
          actor: "test",
          payload: { topic: "backlog", event: { id: `e${i}-${priority}`, type: "t.x", data: { priority }, time: "" } },
        });
      }
    }
    // Posted together: interleaved, in batches of 100 as the batch API would.
    for (let i = 0; i < drafts.length; i += 100) await sendMessages(env, drafts.slice(i, i + 100));

    const hits = await waitFor(() => receiver!.to("/backlog").length === drafts.length && receiver!.to("/backlog"), 30_000, "all deliveries");
    const order = hits.map((h) => JSON.parse(h.body).event.data.priority as number);
    const highVsLow = inversions(order, 8, 1);
    const highVsNormal = inversions(order, 8, 5);
    const normalVsLow = inversions(order, 5, 1);
    console.log(JSON.stringify({ measured: "priority inversions under backlog", highVsLow, highVsNormal, normalVsLow, order: order.join("") }));
    // The guarantee we state: no high message after a low one; at most one batch's worth of overlap elsewhere.
    expect(highVsLow).toBe(0);
    expect(highVsNormal).toBeLessThanOrEqual(0.1);
    expect(normalVsLow).toBeLessThanOrEqual(0.1);
  });
});
