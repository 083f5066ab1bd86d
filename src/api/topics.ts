import { createRoute, z } from "@hono/zod-openapi";
import { TOPIC_PATTERN } from "../messaging/address";
import { eventSchema } from "../messaging/events";
import { sendMessage } from "../messaging/producer";
import { createSubscription, deleteSubscription, listSubscriptions, subscriptionRequestSchema, taskTemplateSchema } from "../messaging/subscriptions";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { bearer, commonErrors, conflict, json, jsonBody, notFound, pageOf, pageQuery, problemSchema } from "./openapi-common";

const notConfigured = { 503: { description: "Messaging is not configured (MESSAGE_KEYS)", content: { "application/problem+json": { schema: problemSchema } } } } as const;

const topicParam = z.object({ topic: z.string().regex(TOPIC_PATTERN, "must be a lowercase topic name").openapi({ param: { name: "topic", in: "path" } }) });
const subscriptionParam = topicParam.extend({ id: z.string().min(1).max(100).openapi({ param: { name: "id", in: "path" } }) });

const subscriptionSchema = z
  .object({
    id: z.string(),
    topic: z.string(),
    type: z.enum(["squad", "webhook"]),
    target: z.string().openapi({ description: "Webhook URL or squad id" }),
    eventTypes: z.array(z.string()),
    task: taskTemplateSchema.nullable(),
    createdAt: z.string(),
    createdBy: z.string(),
  })
  .openapi("Subscription");

const createdSchema = subscriptionSchema
  .extend({ secret: z.string().optional().openapi({ description: "Webhook signing secret. Shown only here, once." }) })
  .openapi("SubscriptionCreated");

const publishSchema = eventSchema
  .extend({
    priority: z.number().int().min(0).max(9).default(5),
    idempotencyKey: z.string().min(1).max(200).optional(),
  })
  .strict()
  .openapi("TopicEventRequest");

const tags = ["topics"];

export const topicsRouter = newRouter();
topicsRouter.use("*", requireScope("squads:run"));

topicsRouter.openapi(
  createRoute({
    method: "post",
    path: "/{topic}/subscriptions",
    tags,
    security: bearer,
    summary: "Subscribe a squad or a signed webhook to a topic",
    description: "Webhook deliveries carry `X-TDev-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + '.' + body)>` and are retried with backoff.",
    request: { params: topicParam, body: jsonBody(subscriptionRequestSchema) },
    responses: { 201: json(createdSchema, "Subscribed"), ...commonErrors, ...conflict, ...notConfigured },
  }),
  async (c) => c.json(await createSubscription(c.env, c.req.valid("param").topic, c.req.valid("json"), c.get("principal").id), 201),
);

topicsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{topic}/subscriptions",
    tags,
    security: bearer,
    summary: "List a topic's subscriptions",
    request: { params: topicParam, query: pageQuery },
    responses: { 200: json(pageOf(subscriptionSchema, "SubscriptionPage"), "A page of subscriptions"), ...commonErrors },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await listSubscriptions(c.env.DB, c.req.valid("param").topic, limit, cursor), 200);
  },
);

topicsRouter.openapi(
  createRoute({
    method: "delete",
    path: "/{topic}/subscriptions/{id}",
    tags,
    security: bearer,
    summary: "Unsubscribe (deliveries already queued are dropped)",
    request: { params: subscriptionParam },
    responses: { 204: { description: "Unsubscribed" }, ...commonErrors, ...notFound },
  }),
  async (c) => {
    const { topic, id } = c.req.valid("param");
    await deleteSubscription(c.env.DB, topic, id);
    return c.body(null, 204);
  },
);

topicsRouter.openapi(
  createRoute({
    method: "post",
    path: "/{topic}/events",
    tags,
    security: bearer,
    summary: "Publish an event to every subscriber of a topic",
    request: { params: topicParam, body: jsonBody(publishSchema) },
    responses: { 202: json(z.object({ id: z.string() }).openapi("EventAccepted"), "Queued for fan-out"), ...commonErrors, ...notConfigured },
  }),
  async (c) => {
    const { type, data, priority, idempotencyKey } = c.req.valid("json");
    const id = await sendMessage(c.env, { to: { topic: c.req.valid("param").topic }, priority, payload: { type, data }, idempotencyKey, actor: c.get("principal").id });
    return c.json({ id }, 202);
  },
);
