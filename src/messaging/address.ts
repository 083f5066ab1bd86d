import type { Env } from "../env";
import type { MessageKind } from "./envelope";

/** Where a message goes. Written into the envelope as `squad:<id>` etc. so it is authenticated with the rest. */
export type Target = { squad: string } | { agent: string } | { topic: string } | { subscription: string };

export type TargetType = "squad" | "agent" | "topic" | "subscription";

export const TOPIC_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function formatTarget(to: Target): string {
  if ("squad" in to) return `squad:${to.squad}`;
  if ("agent" in to) return `agent:${to.agent}`;
  if ("topic" in to) return `topic:${to.topic}`;
  return `subscription:${to.subscription}`;
}

export function parseTarget(text: string): { type: TargetType; name: string } | null {
  const m = /^(squad|agent|topic|subscription):(.+)$/.exec(text);
  return m ? { type: m[1] as TargetType, name: m[2]! } : null;
}

/** Each target type takes exactly one kind of message. */
export const kindFor: Record<TargetType, MessageKind> = { squad: "task", agent: "run", topic: "event", subscription: "delivery" };

// ---- priority bands --------------------------------------------------------------

/**
 * Queues has no priority field, so ten levels ride on three queues whose consumers are tuned
 * differently (see wrangler.toml); inside a batch the consumer runs higher priorities first,
 * and lower bands yield to higher bands that have a backlog.
 */
export type Band = "high" | "normal" | "low";

export const BANDS: readonly Band[] = ["high", "normal", "low"];

export const QUEUE_NAMES: Record<Band, string> = { high: "tdev-messages-high", normal: "tdev-messages", low: "tdev-messages-low" };
export const DEAD_LETTER_QUEUE = "tdev-messages-dlq";

export function bandOf(priority: number): Band {
  return priority >= 7 ? "high" : priority >= 3 ? "normal" : "low";
}

export function bandOfQueue(queue: string): Band | undefined {
  return BANDS.find((b) => QUEUE_NAMES[b] === queue);
}

/** Bands a consumer of `band` must let go first. */
export function higherBands(band: Band): Band[] {
  return BANDS.slice(0, BANDS.indexOf(band));
}

export function queueFor(env: Env, band: Band): Queue<unknown> {
  return band === "high" ? env.MESSAGES_HIGH : band === "low" ? env.MESSAGES_LOW : env.MESSAGES;
}
