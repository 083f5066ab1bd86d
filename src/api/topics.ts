import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { STREAM_TOKEN_TTL_SECONDS } from "../squad/stream-token";
import { TOPIC_PATTERN } from "../messaging/address";
import { eventSchema } from "../messaging/events";
import { sendMessage } from "../messaging/producer";
import { AppError } from "../errors";
import { createSubscription, deleteSubscription, findSubscription, listSubscriptions, listTopics, subscriptionRequestSchema, taskTemplateSchema } from "../messaging/subscriptions";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { streamTokenRoute, viaStreamToken } from "./middleware/access";
import { bearer, commonErrors, conflict, json, jsonBody, notFound, pageOf, pageQuery, problemSchema } from "./openapi-common";

const notConfigured = { 503: { description: "Messaging is not configured (MESSAGE_KEYS)", content: { "application/problem+json": { schema: problemSchema } } } } as const;

const topicParam = z.object({
  topic: z
    .string()
    .regex(TOPIC_PATTERN, "must be a lowercase topic name")
    .openapi({ param: { name: "topic", in: "path" } }),
});
const subscriptionParam = topicParam.extend({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" } }),
});

const subscriptionSchema = z
  .object({
    id: z.string(),
    topic: z.string(),
    type: z.enum(["squad", "webhook", "websocket"]),
    target: z.string().openapi({ description: "Webhook URL, squad id, or (websocket) the subscription id" }),
    stream: z.string().nullable().openapi({ description: "WebSocket subscriptions: the path to open a WebSocket on (same bearer credentials)." }),
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
// A browser opening a topic stream with `?token=` instead of a bearer header: the topic's stream object checks the token.
topicsRouter.use("*", async (c, next) => (viaStreamToken(c) ? next() : requireScope("squads:run")(c, next)));

topicsRouter.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags,
    security: bearer,
    summary: "List topics that have subscribers",
    description: "Topics exist implicitly: publishing to a topic with no subscribers is allowed and delivers nothing.",
    request: { query: pageQuery },
    responses: {
      200: json(pageOf(z.object({ topic: z.string(), subscriptions: z.number().int() }).openapi("TopicSummary"), "TopicPage"), "A page of topics by name"),
      ...commonErrors,
    },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await listTopics(c.env.DB, limit, cursor), 200);
  },
);

topicsRouter.openapi(
  createRoute({
    method: "post",
    path: "/{topic}/subscriptions",
    tags,
    security: bearer,
    summary: "Subscribe a squad, a signed webhook or a WebSocket stream to a topic",
    description:
      "Webhook deliveries carry `X-TDev-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + '.' + body)>` and are retried with backoff. " +
      "Squads get each event as the input of a task built from `task`. WebSocket subscriptions answer a `stream` path: " +
      "GET it with `Upgrade: websocket` to receive each event as a JSON text frame while connected (send `ping` to keep alive). " +
      "Webhook URLs must reach the public internet: loopback, private, link-local, unspecified, metadata and localhost targets (in any spelling) answer 422 " +
      "`/problems/internal-address` with the `rule` that refused them; deliveries check again and never follow redirects.",
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

async function websocketSubscription(c: Context<AppEnv>) {
  const parsed = subscriptionParam.safeParse(c.req.param());
  const sub = parsed.success ? await findSubscription(c.env.DB, parsed.data.id, parsed.data.topic) : undefined;
  if (sub?.type !== "websocket") throw new AppError("not_found", "No websocket subscription here; create one with type websocket first.");
  return { sub, streams: c.env.TOPIC_STREAMS.get(c.env.TOPIC_STREAMS.idFromName(sub.topic)) };
}

topicsRouter.openapi(
  createRoute({
    method: "post",
    path: "/{topic}/subscriptions/{id}/stream-token",
    tags,
    security: bearer,
    summary: "A short-lived token that opens this WebSocket subscription's stream from a browser",
    description: `Browsers cannot set headers on a WebSocket: open \`url\` (the stream path with \`?token=\`) within ${STREAM_TOKEN_TTL_SECONDS} s. The token opens only this subscription's stream.`,
    request: { params: subscriptionParam },
    responses: {
      200: json(z.object({ token: z.string(), expiresAt: z.string(), url: z.string() }).openapi("TopicStreamToken"), "Token issued"),
      ...commonErrors,
      ...notFound,
    },
  }),
  async (c) => {
    const { sub, streams } = await websocketSubscription(c);
    const issued = await streams.streamToken(sub.id, c.get("principal").id);
    const url = `/api/v1/topics/${sub.topic}/subscriptions/${sub.id}/stream?token=${encodeURIComponent(issued.token)}`;
    return c.json({ ...issued, url }, 200);
  },
);

topicsRouter.openAPIRegistry.registerPath({
  method: "get",
  path: "/{topic}/subscriptions/{id}/stream",
  tags,
  security: bearer,
  summary: "WebSocket stream of a websocket subscription: each event as a JSON text frame while connected; ?token= (from stream-token) instead of a bearer header",
  request: { params: subscriptionParam, query: z.object({ token: z.string().optional() }) },
  responses: { 101: { description: "Switching protocols" }, ...commonErrors, ...notFound },
});

/** The WebSocket stream of a websocket subscription. */
topicsRouter.get("/:topic/subscriptions/:id/stream", streamTokenRoute, async (c) => {
  const { sub, streams } = await websocketSubscription(c);
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new AppError("bad_request", "Open this path with a WebSocket upgrade (Upgrade: websocket).");
  const forward = new URL("https://topic-stream/");
  forward.searchParams.set("subscription", sub.id);
  // Without a bearer header the auth middleware let this through only because it carries a token; the stream object verifies it.
  if (viaStreamToken(c)) forward.searchParams.set("token", c.req.query("token") ?? "");
  return streams.fetch(new Request(forward, { headers: { upgrade: "websocket" } }));
});
