import { z } from "@hono/zod-openapi";
import { isRecord } from "../encoding";
import type { Env } from "../env";
import { TOPIC_PATTERN } from "./address";
import { sendMessage } from "./producer";
import { subscribersOf } from "./subscription-cache";
import { matchesEventType } from "./subscriptions";
import { publishToHub } from "../observability/event-hub";
import { GLOBAL_TOPICS } from "../observability/topics";

const EVENT_TYPE = /^[a-z][a-z0-9_-]*(\.[a-z0-9_*-]+)*$/;
const MAX_EVENT_TYPE = 100;

/** What a topic message carries. */
export const eventSchema = z.object({
  type: z.string().regex(EVENT_TYPE, "must be a dotted lowercase event type").max(MAX_EVENT_TYPE),
  data: z.unknown(),
});
export type TopicEvent = z.infer<typeof eventSchema>;

/**
 * A topic message's payload as eventSchema reads it (extra keys dropped), or null. The usual event is recognised
 * without walking the schema (zod cannot generate code in workerd, and a fan-out reads every message).
 */
export function readEvent(value: unknown): TopicEvent | null {
  if (isRecord(value) && "data" in value) {
    const { type } = value;
    if (typeof type === "string" && type.length <= MAX_EVENT_TYPE && EVENT_TYPE.test(type)) return { type, data: value.data };
  }
  const parsed = eventSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/** Topic that system events go to unless a caller names another. */
export const SYSTEM_TOPIC = "system";

/** Priority of system events: normal band, below interactive work. */
const SYSTEM_EVENT_PRIORITY = 4;

/** Whether this isolate has said that system events skip the queue for want of MESSAGE_KEYS (said once, not per event). */
let toldUnconfigured = false;

/**
 * Publishes a system event (agent.published, channel.moved, …) to a topic. Delivery is the queue's
 * business: this never throws into the caller's request path; problems are logged.
 */
export async function publishEvent(env: Env, topic: string, type: string, data: unknown): Promise<void> {
  try {
    if (!TOPIC_PATTERN.test(topic)) throw new Error(`invalid topic name ${JSON.stringify(topic)}`);
    const event = eventSchema.parse({ type, data });
    // The global stream gets system topics directly (after the current work); subscribers get them through the queue.
    if ((GLOBAL_TOPICS as readonly string[]).includes(topic)) publishToHub(env, topic, event.type, event.data);
    // Without a key ring nothing can be sealed: a configuration state, reported once per isolate rather than per event.
    if (!env.MESSAGE_KEYS) {
      if (!toldUnconfigured)
        console.error(JSON.stringify({ at: "publishEvent", topic, type, error: "MESSAGE_KEYS is not set: system events reach the global stream, not topic subscribers" }));
      toldUnconfigured = true;
      return;
    }
    // An event no subscriber wants is not sealed, queued, claimed and settled for nothing. The subscriptions come
    // from the consumers' cache, so a subscription created anywhere receives events within the same 1 s bound.
    const subscribers = await subscribersOf(env.DB, topic);
    if (!subscribers.some((s) => matchesEventType(s.eventTypes, event.type))) return;
    await sendMessage(env, { to: { topic }, priority: SYSTEM_EVENT_PRIORITY, payload: event, actor: "system" });
  } catch (error) {
    console.error(JSON.stringify({ at: "publishEvent", topic, type, error: error instanceof Error ? error.message : String(error) }));
  }
}
