import { z } from "@hono/zod-openapi";
import { and, asc, count, eq, gt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Env } from "../env";
import { AppError } from "../errors";
import { newId } from "../ids";
import { afterTimeId, decodeCursor, type Page, toPage } from "../registry/cursor";
import { findSquad } from "../squad/directory";
import { checkPublicUrl } from "../net/address";
import { encodeBase64Url } from "../encoding";
import { keyRing, KeyRingError, sealSecret } from "./envelope";
import { writingSubscriptions } from "./subscription-cache";
import { subscriptions, type SubscriptionRow } from "./schema";

const eventTypePattern = z
  .string()
  .regex(/^([a-z][a-z0-9_-]*)(\.([a-z0-9_-]+|\*))*$/, "an event type, optionally ending in .*")
  .max(100);

/** Task fields a squad subscription wraps each event in (the event becomes the task's input). */
export const taskTemplateSchema = z
  .object({
    capability: z
      .string()
      .regex(/^[a-z0-9][a-z0-9:._-]{0,63}$/)
      .optional(),
    agent: z.string().min(1).max(64).optional(),
    priority: z.number().int().min(0).max(9).optional(),
    timeoutMs: z.number().int().min(10).max(300_000).optional(),
    retries: z.number().int().min(0).max(10).optional(),
  })
  .strict()
  .refine((t) => (t.capability === undefined) !== (t.agent === undefined), { message: "give exactly one of capability or agent", path: ["capability"] })
  .openapi("SubscriptionTaskTemplate");

export const subscriptionRequestSchema = z
  .discriminatedUnion("type", [
    z
      .object({
        type: z.literal("webhook"),
        url: z
          .url({ protocol: /^https?$/ })
          .max(2000)
          .openapi({ description: "Receives POSTs signed with X-TDev-Signature." }),
        eventTypes: z.array(eventTypePattern).max(50).default([]),
      })
      .strict(),
    z
      .object({
        type: z.literal("squad"),
        squad: z.string().regex(/^sqd_[0-9a-f]{28}$/, "must be a squad id (sqd_…)"),
        task: taskTemplateSchema,
        eventTypes: z.array(eventTypePattern).max(50).default([]),
      })
      .strict(),
    z
      .object({
        type: z.literal("websocket").openapi({ description: "Connect to the returned stream path with a WebSocket; events are live only." }),
        eventTypes: z.array(eventTypePattern).max(50).default([]),
      })
      .strict(),
  ])
  .openapi("SubscriptionRequest");
export type SubscriptionRequest = z.infer<typeof subscriptionRequestSchema>;

export interface SubscriptionView {
  id: string;
  topic: string;
  type: "squad" | "webhook" | "websocket";
  target: string;
  /** WebSocket subscriptions: the API path to connect to. */
  stream: string | null;
  eventTypes: string[];
  task: Record<string, unknown> | null;
  createdAt: string;
  createdBy: string;
}

const view = (r: SubscriptionRow): SubscriptionView => ({
  id: r.id,
  topic: r.topic,
  type: r.type,
  target: r.target,
  stream: r.type === "websocket" ? streamPath(r.topic, r.id) : null,
  eventTypes: r.eventTypes,
  task: r.taskTemplate ?? null,
  createdAt: new Date(r.createdAt).toISOString(),
  createdBy: r.createdBy,
});

export const streamPath = (topic: string, id: string) => `/api/v1/topics/${topic}/subscriptions/${id}/stream`;

/** `agent.*` matches `agent.published`; an empty list matches everything. */
export function matchesEventType(patterns: readonly string[], type: string): boolean {
  return patterns.length === 0 || patterns.some((p) => (p.endsWith(".*") ? type.startsWith(p.slice(0, -1)) : p === type));
}

/** Webhooks go to the public internet only: loopback, private, link-local and metadata targets are refused by rule. */
function refuseInternalUrl(url: string): void {
  const verdict = checkPublicUrl(url);
  if (verdict.ok) return;
  throw new AppError("validation_failed", `Webhook URL refused (${verdict.rule}): ${verdict.detail}`, {
    type: "/problems/internal-address",
    rule: verdict.rule,
    errors: [{ path: "url", message: `${verdict.rule}: ${verdict.detail}` }],
  });
}

/** Creates a subscription. Webhooks get a signing secret, returned here once and stored sealed. */
export async function createSubscription(env: Env, topic: string, req: SubscriptionRequest, actor: string, now = Date.now()) {
  // A squad that does not exist is refused now rather than dead-lettering every event later.
  if (req.type === "squad") await findSquad(env.DB, req.squad);
  if (req.type === "webhook") refuseInternalUrl(req.url);
  const id = newId("sub", now);
  const target = req.type === "webhook" ? req.url : req.type === "squad" ? req.squad : id;
  let secret: string | undefined;
  let sealedSecret: string | null = null;
  if (req.type === "webhook") {
    const ring = await keyRing(env.MESSAGE_KEYS).catch((e: unknown) => {
      throw e instanceof KeyRingError ? new AppError("messaging_not_configured", e.message) : e;
    });
    secret = `whsec_${encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)))}`;
    sealedSecret = await sealSecret(ring, secret, id);
  }
  const row = {
    id,
    topic,
    type: req.type,
    target,
    eventTypes: req.eventTypes,
    sealedSecret,
    taskTemplate: req.type === "squad" ? req.task : null,
    createdAt: now,
    createdBy: actor,
  };
  const inserted = await writingSubscriptions(() => drizzle(env.DB).insert(subscriptions).values(row).onConflictDoNothing().returning());
  if (inserted.length === 0) throw new AppError("conflict", `Topic ${topic} already has a ${req.type} subscription for ${target}.`);
  return { ...view(inserted[0]!), ...(secret ? { secret } : {}) };
}

export async function listSubscriptions(d1: D1Database, topic: string, limit: number, cursor?: string): Promise<Page<SubscriptionView>> {
  const filters = [eq(subscriptions.topic, topic), afterTimeId(cursor, subscriptions.createdAt, subscriptions.id, "asc")];
  const rows = await drizzle(d1)
    .select()
    .from(subscriptions)
    .where(and(...filters))
    .orderBy(asc(subscriptions.createdAt), asc(subscriptions.id))
    .limit(limit + 1);
  return toPage(rows, limit, view, (r) => [r.createdAt, r.id]);
}

export async function deleteSubscription(d1: D1Database, topic: string, id: string): Promise<void> {
  const result = await writingSubscriptions(() =>
    drizzle(d1)
      .delete(subscriptions)
      .where(and(eq(subscriptions.topic, topic), eq(subscriptions.id, id))),
  );
  if (result.meta.changes === 0) throw new AppError("not_found", `Topic ${topic} has no subscription ${id}.`);
}

export async function findSubscription(d1: D1Database, id: string, topic?: string): Promise<SubscriptionRow | undefined> {
  const [row] = await drizzle(d1)
    .select()
    .from(subscriptions)
    .where(topic === undefined ? eq(subscriptions.id, id) : and(eq(subscriptions.id, id), eq(subscriptions.topic, topic)));
  return row;
}

/** Topics that have subscribers, by name, with how many (topics exist implicitly; publishing needs none). */
export async function listTopics(d1: D1Database, limit: number, cursor?: string): Promise<Page<{ topic: string; subscriptions: number }>> {
  const after = cursor ? (decodeCursor(cursor, ["string"])[0] as string) : undefined;
  const rows = await drizzle(d1)
    .select({ topic: subscriptions.topic, subscriptions: count() })
    .from(subscriptions)
    .where(after === undefined ? undefined : gt(subscriptions.topic, after))
    .groupBy(subscriptions.topic)
    .orderBy(asc(subscriptions.topic))
    .limit(limit + 1);
  return toPage(
    rows,
    limit,
    (r) => r,
    (r) => [r.topic],
  );
}
