import { createExecutionContext, createMessageBatch } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import { QUEUE_NAMES } from "../src/messaging/address";
import { BACKLOG_READING_MS, forgetBacklogReadings, higherBandsBusy, noteBacklog, recentReading } from "../src/messaging/backlog";
import { handleQueue } from "../src/messaging/consumer";
import { sendMessages } from "../src/messaging/producer";

/** The worker's env with the high band's metrics() calls counted (and answered by the real local queue). */
function countingMetrics() {
  const queue = env.MESSAGES_HIGH;
  const calls = { metrics: 0 };
  const MESSAGES_HIGH = {
    send: (body: unknown, options?: QueueSendOptions) => queue.send(body, options),
    sendBatch: (messages: Iterable<MessageSendRequest<unknown>>, options?: QueueSendBatchOptions) => queue.sendBatch(messages, options),
    metrics: () => {
      calls.metrics++;
      return queue.metrics();
    },
  };
  return { env: { ...env, MESSAGES_HIGH } as unknown as Env, calls };
}

describe("what a consumer knows of the higher bands' backlog", () => {
  beforeEach(() => forgetBacklogReadings());

  it("a reading holds for BACKLOG_READING_MS, and a later reading replaces an earlier one, never the reverse", () => {
    noteBacklog("high", 0, 1_000);
    expect(recentReading("high", 1_000)).toBe(false);
    expect(recentReading("high", 1_000 + BACKLOG_READING_MS - 1)).toBe(false);
    expect(recentReading("high", 1_000 + BACKLOG_READING_MS)).toBeUndefined();
    noteBacklog("high", 7, 900); // taken before the reading in hand
    expect(recentReading("high", 1_000)).toBe(false);
    noteBacklog("high", 7, 1_050);
    expect(recentReading("high", 1_050)).toBe(true);
  });

  it("asks the queue once, then answers from the reading until it is old", async () => {
    const { env: counted, calls } = countingMetrics();
    expect(await higherBandsBusy(counted, "normal")).toBe(false);
    expect(await higherBandsBusy(counted, "normal")).toBe(false);
    expect(calls.metrics).toBe(1);
    // A reading aged past the bound is asked for again.
    forgetBacklogReadings();
    noteBacklog("high", 0, Date.now() - BACKLOG_READING_MS);
    await higherBandsBusy(counted, "normal");
    expect(calls.metrics).toBe(2);
  });

  it("a send to the high band makes it busy in this isolate at once, without asking", async () => {
    const { env: counted, calls } = countingMetrics();
    noteBacklog("high", 0);
    expect(await higherBandsBusy(counted, "normal")).toBe(false);
    await sendMessages(counted, [{ to: { topic: "backlog-quiet" }, priority: 8, actor: "test", payload: { type: "t.x", data: {} } }]);
    expect(await higherBandsBusy(counted, "normal")).toBe(true);
    expect(calls.metrics).toBe(0);
  });

  it("a high-band batch tells the lower bands' consumers what it leaves behind", async () => {
    const { env: counted, calls } = countingMetrics();
    const batch = createMessageBatch(QUEUE_NAMES.high, []);
    Object.defineProperty(batch, "metadata", { value: { metrics: { backlogCount: 12, backlogBytes: 4_000 } } });
    await handleQueue(batch, counted, createExecutionContext());
    expect(await higherBandsBusy(counted, "low")).toBe(true);
    const drained = createMessageBatch(QUEUE_NAMES.high, []);
    Object.defineProperty(drained, "metadata", { value: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
    await handleQueue(drained, counted, createExecutionContext());
    expect(await higherBandsBusy(counted, "low")).toBe(false);
    // Only the normal band, which no batch reported on, was asked.
    expect(calls.metrics).toBe(0);
  });
});
