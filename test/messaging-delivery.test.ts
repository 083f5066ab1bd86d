import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { QUEUE_NAMES } from "../src/messaging/address";
import { handleQueue } from "../src/messaging/consumer";
import type { Deliver } from "../src/messaging/deliver";
import { encodeBase64, type Envelope } from "../src/messaging/envelope";
import { type MessageDraft, sealDraft } from "../src/messaging/producer";
import { createSubscription } from "../src/messaging/subscriptions";
import { api } from "./helpers";
import { waitFor, webhookReceiver } from "./messaging-helpers";
import { receiptOf } from "../src/messaging/receipts";
import { watchedReceipts } from "./receipt-helpers";

let receiver: ReturnType<typeof webhookReceiver> | undefined;
afterEach(() => receiver?.restore());

async function webhookSubscription(topic: string, path: string) {
  return createSubscription(env, topic, { type: "webhook", url: `https://hooks.test${path}`, eventTypes: [] }, "test");
}

const deliveryTo = (subscription: string, n: number, over: Partial<MessageDraft> = {}): MessageDraft => ({
  to: { subscription },
  priority: 5,
  payload: { topic: "t", event: { id: `evt_${n}`, type: "test.happened", data: { n }, time: new Date().toISOString() } },
  actor: "test",
  ...over,
});

let queueIds = 0;
/** Runs one batch through the consumer as Queues would hand it over, and returns what it acked and retried. */
async function consume(queue: string, bodies: unknown[], opts: { attempts?: number; deliver?: Deliver; env?: typeof env } = {}) {
  const messages = bodies.map((body) => ({ id: `q${++queueIds}`, timestamp: new Date(), attempts: opts.attempts ?? 1, body }));
  const batch = createMessageBatch(queue, messages);
  // getQueueResult does not report retry delays, so watch retry() itself for them.
  const delays = new Map<string, number | undefined>();
  for (const m of batch.messages) {
    const retry = m.retry.bind(m);
    vi.spyOn(m, "retry").mockImplementation((o) => {
      delays.set(m.id, o?.delaySeconds);
      retry(o);
    });
  }
  const ctx = createExecutionContext();
  await handleQueue(batch, opts.env ?? env, ctx, opts.deliver);
  const result = await getQueueResult(batch, ctx);
  return { ids: messages.map((m) => m.id), delays, ...result };
}

const body = (envelope: unknown, deferrals = 0) => ({ v: 1, envelope, deferrals });
const normal = QUEUE_NAMES.normal;

async function deadLetter(id: string) {
  return (await api("GET", `/api/v1/dead-letters/${id}`)).json;
}

describe("consumer: effect once, refusals, retries, order", () => {
  it("a redelivered message has one effect; so does a second message with the same idempotency key", async () => {
    receiver = webhookReceiver();
    const sub = await webhookSubscription("once", "/once");
    const envelope = await sealDraft(env, deliveryTo(sub.id, 1, { idempotencyKey: "pay-1" }));
    const first = await consume(normal, [body(envelope)]);
    expect(first.explicitAcks).toEqual(first.ids);
    const again = await consume(normal, [body(envelope)], { attempts: 2 });
    expect(again.explicitAcks).toEqual(again.ids);
    expect(again.retryMessages).toEqual([]);
    const sameKey = await sealDraft(env, deliveryTo(sub.id, 2, { idempotencyKey: "pay-1" }));
    expect(sameKey.id).not.toBe(envelope.id);
    await consume(normal, [body(sameKey), body(sameKey)]);
    expect(receiver.to("/once")).toHaveLength(1);

    // The same key for another target is a different effect.
    const other = await webhookSubscription("once", "/once-other");
    await consume(normal, [body(await sealDraft(env, deliveryTo(other.id, 3, { idempotencyKey: "pay-1" })))]);
    expect(receiver.to("/once-other")).toHaveLength(1);
  });

  it("a topic message takes no claim, yet every copy of it delivers once per subscriber", async () => {
    receiver = webhookReceiver();
    await webhookSubscription("fan-once", "/fan-once");
    const event = (type: string, idempotencyKey?: string): MessageDraft => ({ to: { topic: "fan-once" }, priority: 5, payload: { type, data: {} }, actor: "test", idempotencyKey });
    const first = await sealDraft(env, event("order.paid", "order-7"));
    const watched = watchedReceipts();
    const fanned = await consume(normal, [body(first)], { env: { ...env, RECEIPTS: watched.store } });
    expect(fanned.explicitAcks).toEqual(fanned.ids);
    expect(watched.calls.map((c) => c.method)).toEqual(["settle"]);
    expect((await api("GET", `/api/v1/messages/${first.id}`)).json).toMatchObject({ status: "delivered", attempts: 1 });

    // Queues redelivers the same message, and the producer resends it under the same idempotency key.
    await consume(normal, [body(first)], { attempts: 2 });
    const resent = await sealDraft(env, event("order.paid", "order-7"));
    expect(resent.id).not.toBe(first.id);
    await consume(normal, [body(resent)]);
    // A later event is a barrier: its delivery is queued after every copy's, on the same band.
    await consume(normal, [body(await sealDraft(env, event("order.barrier")))]);
    await waitFor(() => receiver!.to("/fan-once").some((h) => JSON.parse(h.body).event.type === "order.barrier"), 20_000, "the barrier's delivery");
    // The barrier's delivery may share a batch with the copies' (their effects run side by side), so order is not asserted.
    const events = receiver.to("/fan-once").map((h) => JSON.parse(h.body).event as { id: string; type: string });
    expect(events.map((e) => e.type).sort()).toEqual(["order.barrier", "order.paid"]);
    expect(events.find((e) => e.type === "order.paid")!.id).toBe(first.id);
  });

  it("tampered, unknown-key, malformed and expired messages go straight to dead letters with their reason; the rest are delivered", async () => {
    receiver = webhookReceiver();
    const sub = await webhookSubscription("refuse", "/refuse");
    const good = await sealDraft(env, deliveryTo(sub.id, 1));
    const victim = await sealDraft(env, deliveryTo(sub.id, 2));
    const bytes = Uint8Array.from(atob(victim.ciphertext), (c) => c.charCodeAt(0));
    bytes[5]! ^= 0x01;
    const tampered: Envelope = { ...victim, ciphertext: encodeBase64(bytes) };
    const raised: Envelope = { ...(await sealDraft(env, deliveryTo(sub.id, 3))), priority: 9 };
    const unknownKey: Envelope = { ...(await sealDraft(env, deliveryTo(sub.id, 4))), kid: "retired-long-ago" };
    // Sealed a second ago with a millisecond to live: expired on arrival.
    const expired = await sealDraft(env, deliveryTo(sub.id, 5, { expiresInMs: 1 }), Date.now() - 1000);

    const result = await consume(normal, [body(good), body(tampered), body(raised), body(unknownKey), "just text", body(expired)]);
    expect(result.explicitAcks.sort()).toEqual([...result.ids].sort());
    expect(result.retryMessages).toEqual([]);
    expect(receiver.to("/refuse").map((h) => JSON.parse(h.body).event.data.n)).toEqual([1]);

    const [, q2, q3, q4, q5] = result.ids;
    expect(await deadLetter(`qm_${q2}`)).toMatchObject({ reason: "tampered", target: `subscription:${sub.id}`, attempts: 1 });
    expect(await deadLetter(`qm_${q3}`)).toMatchObject({ reason: "tampered" });
    expect(await deadLetter(`qm_${q4}`)).toMatchObject({ reason: "unknown_key", lastError: expect.stringContaining("retired-long-ago") });
    expect(await deadLetter(`qm_${q5}`)).toMatchObject({ reason: "malformed", target: null });
    expect(await deadLetter(expired.id)).toMatchObject({ reason: "expired" });
    const listed = await api("GET", "/api/v1/dead-letters?reason=tampered");
    expect(listed.json.items.map((d: { id: string }) => d.id).sort()).toEqual([`qm_${q2}`, `qm_${q3}`].sort());
  });

  it("a failed effect retries with exponential backoff and records first and last error; a refusing target is dead-lettered as rejected", async () => {
    let status = 503;
    receiver = webhookReceiver((path) => (path === "/flaky" ? status : 410));
    const flaky = await webhookSubscription("retry", "/flaky");
    const gone = await webhookSubscription("retry", "/gone");
    const envelope = await sealDraft(env, deliveryTo(flaky.id, 1));
    const slow = { ...env, MESSAGE_RETRY_BASE_SECONDS: "2" };

    const first = await consume(normal, [body(envelope)], { env: slow });
    expect(first.retryMessages).toEqual([{ msgId: first.ids[0] }]);
    expect(first.delays.get(first.ids[0]!)).toBe(2);
    status = 500;
    const third = await consume(normal, [body(envelope)], { env: slow, attempts: 3 });
    expect(third.retryMessages).toEqual([{ msgId: third.ids[0] }]);
    expect(third.delays.get(third.ids[0]!)).toBe(8);
    const receipt = (await receiptOf(env.RECEIPTS, [envelope.id])).get(envelope.id);
    expect(receipt).toMatchObject({ status: "failed", attempts: 2, firstError: expect.stringContaining("503"), lastError: expect.stringContaining("500") });
    status = 200;
    const fourth = await consume(normal, [body(envelope)], { env: slow, attempts: 4 });
    expect(fourth.explicitAcks).toEqual(fourth.ids);
    expect(receiver.to("/flaky")).toHaveLength(3);

    const refused = await sealDraft(env, deliveryTo(gone.id, 2));
    const result = await consume(normal, [body(refused)]);
    expect(result.explicitAcks).toEqual(result.ids);
    expect(await deadLetter(refused.id)).toMatchObject({ reason: "rejected", lastError: expect.stringContaining("410"), target: `subscription:${gone.id}` });
  });

  it("inside a batch, higher priorities take effect first", async () => {
    receiver = webhookReceiver();
    const sub = await webhookSubscription("order", "/order");
    const priorities = [3, 9, 0, 7, 5, 1, 8, 2, 6, 4];
    const envelopes = await Promise.all(priorities.map((p, i) => sealDraft(env, deliveryTo(sub.id, i, { priority: p }))));
    await consume(
      normal,
      envelopes.map((e) => body(e)),
    );
    const order = receiver.to("/order").map((h) => priorities[JSON.parse(h.body).event.data.n]);
    expect(order).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  });

  it("an open circuit breaker defers the message without counting an attempt, then it is delivered", async () => {
    receiver = webhookReceiver();
    const sub = await webhookSubscription("breaker", "/breaker");
    const envelope = await sealDraft(env, deliveryTo(sub.id, 1));
    const breakerOpen: Deliver = async () => ({ ok: false, retry: true, circuitOpen: true, error: "circuit_open: model x" });
    const result = await consume(normal, [body(envelope)], { deliver: breakerOpen });
    // Acknowledged, not retried: the copy re-sent with a delay carries the deferral instead.
    expect(result.explicitAcks).toEqual(result.ids);
    expect(result.retryMessages).toEqual([]);
    const receipt = (await receiptOf(env.RECEIPTS, [envelope.id])).get(envelope.id);
    expect(receipt).toMatchObject({ status: "failed", attempts: 0 });
    // The re-sent copy comes back through the real queue and, with the breaker closed, is delivered.
    await waitFor(() => receiver!.to("/breaker").length > 0, 20_000, "deferred delivery");
    const done = (await receiptOf(env.RECEIPTS, [envelope.id])).get(envelope.id);
    expect(done).toMatchObject({ status: "done", attempts: 1 });
  });
});

describe("through the real local queues", () => {
  it("a poison message reaches dead letters after its retries, with its reason, while the rest are delivered; replay delivers it", async () => {
    let poisonStatus = 500;
    receiver = webhookReceiver((path) => (path === "/poison" ? poisonStatus : 200));
    await api("POST", "/api/v1/topics/mixed/subscriptions", { body: { type: "webhook", url: "https://hooks.test/healthy" } });
    const poison = await api("POST", "/api/v1/topics/mixed/subscriptions", { body: { type: "webhook", url: "https://hooks.test/poison" } });
    const sent = await Promise.all([1, 2, 3].map((n) => api("POST", "/api/v1/topics/mixed/events", { body: { type: "order.created", data: { n }, priority: 8 } })));
    expect(sent.map((s) => s.status)).toEqual([202, 202, 202]);

    const target = `subscription:${poison.json.id}`;
    const letters = await waitFor(
      async () => {
        const page = await api("GET", `/api/v1/dead-letters?target=${encodeURIComponent(target)}`);
        return page.json.items.length === 3 && page.json.items;
      },
      30_000,
      "three dead letters",
    );
    // max_retries = 5 in wrangler.toml: 6 attempts each, then the dead-letter queue.
    expect(receiver.to("/poison")).toHaveLength(18);
    for (const letter of letters) {
      expect(letter).toMatchObject({ reason: "max_retries", attempts: 6, target, kind: "delivery", priority: 8, queue: "tdev-messages-dlq" });
      expect(letter.firstError).toContain("answered 500");
      expect(letter.lastError).toContain("answered 500");
    }
    expect(
      receiver
        .to("/healthy")
        .map((h) => JSON.parse(h.body).event.data.n)
        .sort(),
    ).toEqual([1, 2, 3]);

    poisonStatus = 200;
    const replay = await api("POST", `/api/v1/dead-letters/${letters[0].id}/replay`);
    expect(replay.status).toBe(202);
    expect(replay.json).toMatchObject({ id: letters[0].id, replayCount: 1, replayedAt: expect.any(String) });
    await waitFor(() => receiver!.to("/poison").length === 19, 20_000, "replayed delivery");
    const receipt = (await receiptOf(env.RECEIPTS, [letters[0].id])).get(letters[0].id);
    expect(receipt).toMatchObject({ status: "done" });
    expect((await api("GET", `/api/v1/messages/${letters[0].id}`)).json).toMatchObject({ status: "delivered", deadLetter: { reason: "max_retries", replayCount: 1 } });
    expect((await api("GET", `/api/v1/messages/${letters[2].id}`)).json).toMatchObject({ status: "dead", attempts: 6 });

    expect((await api("DELETE", `/api/v1/dead-letters/${letters[1].id}`)).status).toBe(204);
    expect((await api("GET", `/api/v1/dead-letters/${letters[1].id}`)).status).toBe(404);
    expect((await api("POST", `/api/v1/dead-letters/${letters[1].id}/replay`)).status).toBe(404);
    // A last event is a barrier: once both subscribers have it, nothing else is on its way to /healthy.
    await api("POST", "/api/v1/topics/mixed/events", { body: { type: "order.barrier", data: { n: "barrier" }, priority: 8 } });
    await waitFor(() => receiver!.to("/healthy").length > 3 && receiver!.to("/poison").length > 19, 20_000, "the barrier event");
    const healthy = receiver.to("/healthy").map((h) => JSON.parse(h.body).event.data.n);
    // The first three arrive in any order (one batch, delivered concurrently); the barrier comes last.
    expect(healthy).toHaveLength(4);
    expect(healthy.at(-1)).toBe("barrier");
    expect(healthy.slice(0, 3).sort()).toEqual([1, 2, 3]);
  });

  it("refused dead letters cannot be replayed; pages are keyset cursors", async () => {
    const sub = await webhookSubscription("pages", "/pages");
    const envelopes = await Promise.all([1, 2, 3].map(async (n) => ({ ...(await sealDraft(env, deliveryTo(sub.id, n))), priority: 8 })));
    const result = await consume(
      normal,
      envelopes.map((e) => body(e)),
    );
    const ids = result.ids.map((id: string) => `qm_${id}`);
    const replay = await api("POST", `/api/v1/dead-letters/${ids[0]}/replay`);
    expect(replay.status).toBe(409);
    const first = await api("GET", `/api/v1/dead-letters?target=${encodeURIComponent(`subscription:${sub.id}`)}&limit=2`);
    expect(first.json.items).toHaveLength(2);
    const second = await api("GET", `/api/v1/dead-letters?target=${encodeURIComponent(`subscription:${sub.id}`)}&limit=2&cursor=${first.json.nextCursor}`);
    expect(second.json).toMatchObject({ items: [expect.any(Object)], nextCursor: null });
    expect([...first.json.items, ...second.json.items].map((d: { id: string }) => d.id).sort()).toEqual([...ids].sort());
    expect((await api("GET", "/api/v1/dead-letters?cursor=garbage")).status).toBe(400);
    expect((await api("GET", "/api/v1/dead-letters?reason=bogus")).status).toBe(422);
  });
});
