import type { Env } from "../env";
import { AppError } from "../errors";
import { currentTraceId } from "../observability/context";
import { sha256Hex } from "../registry/canonical";
import { executeAgent } from "../runtime/execute";
import { recordAfter } from "../runtime/run-writer";
import { squadStub } from "../squad/directory";
import type { TaskRequest } from "../squad/task";
import { parseTarget, kindFor } from "./address";
import type { Envelope, Sealed } from "./envelope";
import { ALERT_KEY_PREFIX, DEAD_LETTER_EVENT } from "./dead-letter-alert";
import { readEvent } from "./events";
import { keyRing, openSecret } from "./envelope";
import { MAX_BATCH, sendMessages, type MessageDraft } from "./producer";
import { subscribersOf, subscriptionById } from "./subscription-cache";
import { matchesEventType } from "./subscriptions";
import type { SubscriptionRow } from "./schema";
import { postWebhook } from "./webhooks";

/** One authenticated message, claimed and ready for its effect. */
export interface Delivery {
  envelope: Envelope;
  sealed: Sealed;
  /** The receipt key, handed on to targets that dedupe too (squads). */
  dedupKey: string;
  /** Reads that the messages of one batch share (a topic's subscribers), made once per batch. */
  shared?: Map<string, Promise<unknown>>;
}

/**
 * How an effect ended. `retry` failures go back on the queue with backoff; the rest are
 * dead-lettered at once as `rejected`. `circuitOpen` asks for a delay that does not count as a failure.
 */
export type EffectResult = { ok: true } | { ok: false; retry: boolean; circuitOpen?: boolean; error: string };

export type Deliver = (env: Env, delivery: Delivery) => Promise<EffectResult>;

/**
 * Whether an effect must hold a receipt claim while it runs. A topic message's only effect is to send one delivery
 * per subscriber, keyed (deliveryKeyOf) the same for every copy of the message, and each delivery is claimed: a
 * repeated fan-out is deduplicated there. So a topic message skips the claim's round trip; its outcome is still
 * recorded, for its status.
 */
export const needsClaim = (to: string): boolean => !to.startsWith("topic:");

/**
 * The idempotency key of a topic message's deliveries: its own idempotency key (hashed: it may be as long as a key
 * may be), or else its id. Every copy of the message — a redelivery, or a resend under the same idempotency key —
 * gives the same keys, so each subscriber gets one delivery. A dead-letter alert's keys carry ALERT_KEY_PREFIX.
 */
async function deliveryKeyOf(envelope: Envelope, alert: boolean): Promise<string> {
  const key = envelope.idempotencyKey === undefined ? envelope.id : `key:${(await sha256Hex(envelope.idempotencyKey)).slice(0, 40)}`;
  return alert ? `${ALERT_KEY_PREFIX}${key}` : key;
}

/** Codes that mean the target will never accept this message as it is. */
const PERMANENT_CODES = new Set(["validation_failed", "bad_request", "not_found", "forbidden", "conflict", "spec_too_large"]);

/** Runs a message's effect on its target. */
export const deliver: Deliver = async (env, d) => {
  const target = parseTarget(d.envelope.to);
  if (!target) return { ok: false, retry: false, error: `unknown address ${d.envelope.to}` };
  if (kindFor[target.type] !== d.envelope.kind) return { ok: false, retry: false, error: `a ${target.type} does not take ${d.envelope.kind} messages` };
  try {
    switch (target.type) {
      case "squad":
        return await submitToSquad(env, target.name, d.sealed.payload as TaskRequest, d.dedupKey, d.sealed.actor);
      case "agent":
        return await runAgent(env, target.name, d);
      case "topic":
        return await fanOut(env, target.name, d);
      case "subscription":
        return await deliverToSubscription(env, target.name, d);
    }
  } catch (error) {
    if (error instanceof AppError)
      return { ok: false, retry: !PERMANENT_CODES.has(error.code), circuitOpen: error.code === "circuit_open", error: `${error.code}: ${error.detail}` };
    return { ok: false, retry: true, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
};

async function submitToSquad(env: Env, squadId: string, task: TaskRequest, dedupKey: string, actor: string): Promise<EffectResult> {
  // The squad dedupes tasks by this key too, which closes the window between effect and receipt.
  const outcome = await squadStub(env, squadId).submitTask(task, { idempotencyKey: dedupKey, actor, traceId: currentTraceId() });
  if (outcome.ok) return { ok: true };
  return { ok: false, retry: !PERMANENT_CODES.has(outcome.code), circuitOpen: outcome.code === "circuit_open", error: `${outcome.code}: ${outcome.detail}` };
}

async function runAgent(env: Env, ref: string, d: Delivery): Promise<EffectResult> {
  // The run's record is written behind it (batched with the batch's other runs), not before the ack.
  const result = await executeAgent(env, { agent: ref, input: d.sealed.payload, actor: d.sealed.actor, source: "queue", sessionId: d.envelope.id }, recordAfter(env));
  if (result.status === "succeeded") return { ok: true };
  const code = result.error?.code ?? "agent_failed";
  return { ok: false, retry: true, circuitOpen: code === "circuit_open", error: `${code}: ${result.error?.detail ?? "agent run failed"} (run ${result.runId})` };
}

/** A topic message becomes one delivery message per matching subscription, each retried on its own. */
async function fanOut(env: Env, topic: string, d: Delivery): Promise<EffectResult> {
  const event = readEvent(d.sealed.payload);
  if (!event) return { ok: false, retry: false, error: "topic payload is not {type, data}" };
  const key = `subscriptions:${topic}`;
  let all = d.shared?.get(key) as Promise<SubscriptionRow[]> | undefined;
  if (!all) {
    all = subscribersOf(env.DB, topic);
    d.shared?.set(key, all);
  }
  const subscribers = (await all).filter((s) => matchesEventType(s.eventTypes, event.type));
  if (subscribers.length === 0) return { ok: true };
  const idempotencyKey = await deliveryKeyOf(d.envelope, event.type === DEAD_LETTER_EVENT);
  const now = Date.now();
  const drafts: MessageDraft[] = subscribers.map((s) => ({
    to: { subscription: s.id },
    priority: d.envelope.priority,
    payload: { topic, event: { id: d.envelope.id, type: event.type, data: event.data, time: new Date(d.envelope.createdAt).toISOString() } },
    actor: d.sealed.actor,
    // Scoped to the subscription, so a repeated fan-out of this event delivers once per subscriber.
    idempotencyKey,
    expiresInMs: d.envelope.expiresAt === undefined ? undefined : Math.max(1, d.envelope.expiresAt - now),
  }));
  for (let i = 0; i < drafts.length; i += MAX_BATCH) await sendMessages(env, drafts.slice(i, i + MAX_BATCH));
  return { ok: true };
}

interface SubscriptionPayload {
  topic: string;
  event: { id: string; type: string; data: unknown; time: string };
}

async function deliverToSubscription(env: Env, subscriptionId: string, d: Delivery): Promise<EffectResult> {
  const sub = await subscriptionById(env.DB, subscriptionId);
  // Unsubscribed since the fan-out: nothing is owed to anyone.
  if (!sub) return { ok: true };
  const payload = d.sealed.payload as SubscriptionPayload;
  if (sub.type === "squad") {
    return submitToSquad(env, sub.target, { ...(sub.taskTemplate as Omit<TaskRequest, "input">), input: payload.event } as TaskRequest, d.dedupKey, d.sealed.actor);
  }
  if (sub.type === "websocket") {
    // Live only: with nobody connected there is nothing to deliver, and that is not a failure.
    await env.TOPIC_STREAMS.get(env.TOPIC_STREAMS.idFromName(sub.topic)).broadcast({ subscription: sub.id, ...payload });
    return { ok: true };
  }
  if (!sub.sealedSecret) return { ok: false, retry: false, error: `subscription ${sub.id} has no signing secret` };
  const secret = await openSecret(await keyRing(env.MESSAGE_KEYS), sub.sealedSecret, sub.id);
  const outcome = await postWebhook({
    url: sub.target,
    secret,
    body: JSON.stringify(payload),
    headers: { "X-TDev-Event": payload.event.type, "X-TDev-Topic": payload.topic, "X-TDev-Delivery": d.envelope.id },
  });
  return outcome.ok ? { ok: true } : { ok: false, retry: !outcome.permanent, error: outcome.error };
}
