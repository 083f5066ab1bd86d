import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Messages that will not be delivered without help, kept for inspection and replay. */
export const deadLetters = sqliteTable(
  "dead_letters",
  {
    id: text("id").primaryKey(),
    reason: text("reason").notNull(),
    attempts: integer("attempts").notNull(),
    firstError: text("first_error"),
    lastError: text("last_error"),
    target: text("target"),
    kind: text("kind"),
    priority: integer("priority"),
    /** The envelope exactly as it arrived (still encrypted), so a replay sends the same bytes. */
    envelope: text("envelope").notNull(),
    queue: text("queue").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    replayedAt: integer("replayed_at"),
    replayCount: integer("replay_count").notNull().default(0),
  },
  (t) => [index("dead_letters_order").on(t.createdAt, t.id), index("dead_letters_reason").on(t.reason, t.createdAt), index("dead_letters_target").on(t.target, t.createdAt)],
);

/** Who hears a topic's events: a squad (as a task), a signed webhook, or a WebSocket stream (live only). */
export const subscriptions = sqliteTable(
  "subscriptions",
  {
    id: text("id").primaryKey(),
    topic: text("topic").notNull(),
    type: text("type", { enum: ["squad", "webhook", "websocket"] }).notNull(),
    /** Squad id, webhook URL, or (websocket) the subscription's own id. */
    target: text("target").notNull(),
    /** Event types to deliver (`agent.published`, `agent.*`); empty = all. */
    eventTypes: text("event_types", { mode: "json" }).$type<string[]>().notNull(),
    /** Webhook signing secret, sealed with the message key ring (never stored in clear). */
    sealedSecret: text("sealed_secret"),
    /** Squad subscriptions: the task fields the event is wrapped in. */
    taskTemplate: text("task_template", { mode: "json" }).$type<Record<string, unknown>>(),
    createdAt: integer("created_at").notNull(),
    createdBy: text("created_by").notNull(),
  },
  (t) => [uniqueIndex("subscriptions_unique").on(t.topic, t.type, t.target), index("subscriptions_topic").on(t.topic, t.createdAt, t.id)],
);

export type DeadLetterRow = typeof deadLetters.$inferSelect;
export type SubscriptionRow = typeof subscriptions.$inferSelect;
