import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import { publishEvent } from "../src/messaging/events";
import { api } from "./helpers";

/** The worker's env with the normal band's producer counting what is sent through it. */
function countingQueue() {
  const sent: unknown[] = [];
  const queue = env.MESSAGES;
  const MESSAGES = {
    send: (body: unknown, options?: QueueSendOptions) => {
      sent.push(body);
      return queue.send(body, options);
    },
    sendBatch: (messages: Iterable<MessageSendRequest<unknown>>, options?: QueueSendBatchOptions) => {
      const all = [...messages];
      sent.push(...all.map((m) => m.body));
      return queue.sendBatch(all, options);
    },
    metrics: () => queue.metrics(),
  };
  return { env: { ...env, MESSAGES } as unknown as Env, sent };
}

describe("system events go to the queue only when a subscriber wants them", () => {
  it("sends nothing for a topic without subscriptions", async () => {
    const { env: counted, sent } = countingQueue();
    await publishEvent(counted, "quiet-none", "agent.published", { name: "a" });
    expect(sent).toHaveLength(0);
  });

  it("sends an event whose type a subscription matches, skips one it does not, and stops once the subscription is deleted", async () => {
    const sub = await api("POST", "/api/v1/topics/quiet-some/subscriptions", { body: { type: "webhook", url: "https://hooks.test/quiet", eventTypes: ["order.*"] } });
    expect(sub.status).toBe(201);
    const { env: counted, sent } = countingQueue();

    await publishEvent(counted, "quiet-some", "invoice.sent", {});
    expect(sent).toHaveLength(0);
    await publishEvent(counted, "quiet-some", "order.created", { n: 1 });
    expect(sent).toHaveLength(1);

    expect((await api("DELETE", `/api/v1/topics/quiet-some/subscriptions/${sub.json.id}`)).status).toBe(204);
    await publishEvent(counted, "quiet-some", "order.created", { n: 2 });
    expect(sent).toHaveLength(1);
  });
});
