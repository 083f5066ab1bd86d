import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { DEAD_LETTER_QUEUE, QUEUE_NAMES } from "../src/messaging/address";
import { handleQueue } from "../src/messaging/consumer";
import { ALERT_KEY_PREFIX, DEAD_LETTER_EVENT } from "../src/messaging/dead-letter-alert";
import { encodeBase64, type Envelope } from "../src/messaging/envelope";
import { type MessageDraft, sealDraft } from "../src/messaging/producer";
import { createSubscription } from "../src/messaging/subscriptions";
import { seriesKey } from "../src/observability/metrics";
import { readMetrics } from "../src/observability/record";
import { webhookReceiver } from "./messaging-helpers";
import { RECEIPT_SHARDS } from "../src/messaging/receipts";
import { inEveryShard } from "./receipt-helpers";

let receiver: ReturnType<typeof webhookReceiver> | undefined;
beforeAll(() => createSubscription(env, "system", { type: "webhook", url: "https://hooks.test/alerts", eventTypes: [DEAD_LETTER_EVENT] }, "test"));
beforeEach(() => void (receiver = webhookReceiver()));
afterEach(() => receiver?.restore());

let queueIds = 0;
async function consume(queue: string, envelopes: unknown[]) {
  const batch = createMessageBatch(
    queue,
    envelopes.map((envelope) => ({ id: `alert-q${++queueIds}`, timestamp: new Date(), attempts: 1, body: { v: 1, envelope, deferrals: 0 } })),
  );
  const ctx = createExecutionContext();
  await handleQueue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

const toAgent = (n: number, over: Partial<MessageDraft> = {}): MessageDraft => ({ to: { agent: `alert-agent-${n}` }, priority: 5, payload: { n }, actor: "test", ...over });

/** The dead-letter events the system topic's webhook subscriber received, by dead letter id. */
const alerts = () =>
  new Map(
    receiver!
      .to("/alerts")
      .map((h) => JSON.parse(h.body) as { topic: string; event: { type: string; data: { id: string; reason: string; queue: string; target: string | null } } })
      .filter((p) => p.event.type === DEAD_LETTER_EVENT)
      .map((p) => [p.event.data.id, p]),
  );

const deadLettersTotal = async (reason: string, queue: string) => (await readMetrics(env.METRICS))[seriesKey("tdev_dead_letters_total", { reason, queue })]?.value ?? 0;

describe("a dead letter raises an alert: an event on topic system and tdev_dead_letters_total", () => {
  it("announces messages out of retries (DLQ consumer) and refused on arrival (band consumer), once stored", async () => {
    const retriesBefore = await deadLettersTotal("max_retries", DEAD_LETTER_QUEUE);
    const tamperedBefore = await deadLettersTotal("tampered", QUEUE_NAMES.normal);

    const exhausted = await sealDraft(env, toAgent(1));
    const dlq = await consume(DEAD_LETTER_QUEUE, [exhausted]);
    expect(dlq.ackAll).toBe(true);
    const victim = await sealDraft(env, toAgent(2));
    const bytes = Uint8Array.from(atob(victim.ciphertext), (c) => c.charCodeAt(0));
    bytes[0]! ^= 1;
    const tampered: Envelope = { ...victim, ciphertext: encodeBase64(bytes) };
    await consume(QUEUE_NAMES.normal, [tampered]);

    const seen = await vi.waitFor(
      () => {
        const got = alerts();
        if (!got.has(exhausted.id) || !got.has(`qm_alert-q${queueIds}`)) throw new Error(`alerts so far: ${[...got.keys()]}`);
        return got;
      },
      { timeout: 15_000, interval: 25 },
    );
    expect(seen.get(exhausted.id)!.event.data).toMatchObject({ reason: "max_retries", queue: DEAD_LETTER_QUEUE, target: "agent:alert-agent-1" });
    expect(seen.get(`qm_alert-q${queueIds}`)!.event.data).toMatchObject({ reason: "tampered", queue: QUEUE_NAMES.normal });
    // The alert's delivery to the subscriber is marked, so that delivery's own dead letter would not alert again. The
    // webhook saw the alert during the effect; the receipt is settled after it, so wait for that.
    await vi.waitFor(
      async () => {
        const marked = await inEveryShard(
          RECEIPT_SHARDS,
          "SELECT count(*) AS n FROM receipts WHERE dedup_key LIKE ? AND status = 'done'",
          `idem:subscription:%:${ALERT_KEY_PREFIX}%`,
        );
        expect(marked.reduce((n, r) => n + Number(r.n), 0)).toBeGreaterThanOrEqual(2);
      },
      { timeout: 5_000, interval: 25 },
    );
    // The alert names the dead letter; it is readable there.
    expect((await env.DB.prepare("SELECT reason FROM dead_letters WHERE id = ?").bind(exhausted.id).first())?.reason).toBe("max_retries");
    await vi.waitFor(async () => expect(await deadLettersTotal("max_retries", DEAD_LETTER_QUEUE)).toBe(retriesBefore + 1), { timeout: 5_000, interval: 25 });
    await vi.waitFor(async () => expect(await deadLettersTotal("tampered", QUEUE_NAMES.normal)).toBe(tamperedBefore + 1), { timeout: 5_000, interval: 25 });
  });

  it("a dead-lettered delivery of an alert is counted but not announced again (no loop through a broken subscriber)", async () => {
    const before = await deadLettersTotal("max_retries", DEAD_LETTER_QUEUE);
    const alertDelivery = await sealDraft(env, { to: { subscription: "sub_broken" }, priority: 4, payload: {}, actor: "system", idempotencyKey: `${ALERT_KEY_PREFIX}msg_1` });
    // A client's own message with the prefix is still announced: only the fan-out addresses subscriptions.
    const lookalike = await sealDraft(env, toAgent(3, { idempotencyKey: `${ALERT_KEY_PREFIX}mine` }));
    await consume(DEAD_LETTER_QUEUE, [alertDelivery, lookalike]);
    // Both alerts (had there been two) were sent in the same pass; the lookalike's arriving means the other was due too.
    await vi.waitFor(() => expect(alerts().has(lookalike.id)).toBe(true), { timeout: 15_000, interval: 25 });
    expect(alerts().has(alertDelivery.id)).toBe(false);
    await vi.waitFor(async () => expect(await deadLettersTotal("max_retries", DEAD_LETTER_QUEUE)).toBe(before + 2), { timeout: 5_000, interval: 25 });
  });
});
