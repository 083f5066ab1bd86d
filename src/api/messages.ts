import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "../errors";
import { kindFor, TOPIC_PATTERN, type Target } from "../messaging/address";
import { KINDS } from "../messaging/envelope";
import { eventSchema } from "../messaging/events";
import { messageStatus } from "../messaging/dead-letters";
import { MAX_BATCH, type MessageDraft, sendMessages } from "../messaging/producer";
import { registryDb, resolveAgentRef } from "../registry/store";
import { findSquad } from "../squad/directory";
import { taskRequestSchema } from "../squad/task";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { bearer, commonErrors, json, jsonBody, notFound, problemSchema } from "./openapi-common";

const notConfigured = { 503: { description: "Messaging is not configured (MESSAGE_KEYS)", content: { "application/problem+json": { schema: problemSchema } } } } as const;

const targetSchema = z
  .union([
    z.object({ squad: z.string().regex(/^sqd_[0-9a-f]{28}$/, "must be a squad id (sqd_…)") }).strict(),
    z.object({ agent: z.string().min(1).max(100).openapi({ description: 'Agent ref: "name", "name@1.2.0" or "name#channel"' }) }).strict(),
    z.object({ topic: z.string().regex(TOPIC_PATTERN, "must be a lowercase topic name") }).strict(),
  ])
  .openapi("MessageTarget");

export const messageRequestSchema = z
  .object({
    to: targetSchema,
    kind: z.enum(KINDS).optional().openapi({ description: "task for a squad, run for an agent, event for a topic; inferred when omitted." }),
    priority: z.number().int().min(0).max(9).default(5).openapi({ description: "0–9, 9 most urgent. 7–9 high band, 3–6 normal, 0–2 low." }),
    payload: z.unknown().openapi({ description: "Squad: a task request body. Agent: the run input. Topic: {type, data}." }),
    idempotencyKey: z.string().min(1).max(200).optional().openapi({ description: "Messages to the same target with the same key have one effect." }),
    expiresInMs: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600_000)
      .optional()
      .openapi({ description: "Undelivered after this long, the message is dead-lettered as expired." }),
  })
  .strict()
  .openapi("MessageRequest");
type MessageRequest = z.infer<typeof messageRequestSchema>;

const acceptedSchema = z.object({ id: z.string() }).openapi("MessageAccepted");
const batchSchema = z
  .object({ messages: z.array(messageRequestSchema).min(1).max(MAX_BATCH) })
  .strict()
  .openapi("MessageBatchRequest");
const batchAcceptedSchema = z.object({ ids: z.array(z.string()) }).openapi("MessageBatchAccepted");

/** Checks what the envelope will carry before anything is sent, so bad input changes nothing. */
async function draftOf(env: Parameters<typeof sendMessages>[0], m: MessageRequest, actor: string, path: string): Promise<MessageDraft> {
  const to = m.to as Target;
  const type = "squad" in to ? "squad" : "agent" in to ? "agent" : "topic";
  if (m.kind && m.kind !== kindFor[type]) {
    throw new AppError("validation_failed", `A ${type} takes ${kindFor[type]} messages.`, { errors: [{ path: `${path}kind`, message: `must be ${kindFor[type]} for a ${type}` }] });
  }
  const payloadSchema = type === "squad" ? taskRequestSchema : type === "topic" ? eventSchema : undefined;
  if (payloadSchema) {
    const parsed = payloadSchema.safeParse(m.payload);
    if (!parsed.success) {
      throw new AppError("validation_failed", `The payload is not a valid ${type === "squad" ? "task request" : "event"}.`, {
        errors: parsed.error.issues.map((i) => ({ path: [`${path}payload`, ...i.path].join("."), message: i.message })),
      });
    }
  }
  // Unknown targets are refused here, not dead-lettered later.
  if ("agent" in to) await resolveAgentRef(registryDb(env.DB), to.agent);
  if ("squad" in to) await findSquad(env.DB, to.squad);
  return { to, priority: m.priority, payload: m.payload, actor, idempotencyKey: m.idempotencyKey, expiresInMs: m.expiresInMs };
}

const tags = ["messages"];

export const messagesRouter = newRouter();
messagesRouter.use("*", requireScope("squads:run"));

messagesRouter.openapi(
  createRoute({
    method: "post",
    path: "/",
    tags,
    security: bearer,
    summary: "Send an encrypted message to a squad, an agent or a topic",
    description: "Sealed with AES-GCM and queued on the band of its priority; delivered at least once with one effect.",
    request: { body: jsonBody(messageRequestSchema) },
    responses: { 202: json(acceptedSchema, "Queued"), ...commonErrors, ...notFound, ...notConfigured },
  }),
  async (c) => {
    const [id] = await sendMessages(c.env, [await draftOf(c.env, c.req.valid("json"), c.get("principal").id, "")]);
    return c.json({ id: id! }, 202);
  },
);

messagesRouter.openapi(
  createRoute({
    method: "post",
    path: "/batch",
    tags,
    security: bearer,
    summary: `Send up to ${MAX_BATCH} messages at once (all or none are queued)`,
    request: { body: jsonBody(batchSchema) },
    responses: { 202: json(batchAcceptedSchema, "Queued, ids in request order"), ...commonErrors, ...notFound, ...notConfigured },
  }),
  async (c) => {
    const actor = c.get("principal").id;
    const drafts = await Promise.all(c.req.valid("json").messages.map((m, i) => draftOf(c.env, m, actor, `messages.${i}.`)));
    return c.json({ ids: await sendMessages(c.env, drafts) }, 202);
  },
);

const statusSchema = z
  .object({
    id: z.string(),
    status: z.enum(["pending", "delivering", "retrying", "delivered", "dead"]).openapi({
      description: "pending: no consumer has recorded it yet (queued, deferred, or a duplicate of an earlier message with the same idempotency key).",
    }),
    target: z.string().nullable(),
    attempts: z.number().int(),
    lastError: z.string().nullable(),
    deliveredAt: z.string().nullable(),
    deadLetter: z.object({ reason: z.string(), replayCount: z.number().int() }).nullable(),
  })
  .openapi("MessageStatus");

messagesRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}",
    tags,
    security: bearer,
    summary: "Where a message is: pending, delivering, retrying, delivered or dead",
    request: {
      params: z.object({
        id: z
          .string()
          .regex(/^msg_[0-9a-f]{28}$/, "must be a message id (msg_…)")
          .openapi({ param: { name: "id", in: "path" } }),
      }),
    },
    responses: { 200: json(statusSchema, "The message's delivery status"), ...commonErrors, ...notFound, ...notConfigured },
  }),
  async (c) => c.json(await messageStatus(c.env, c.req.valid("param").id), 200),
);
