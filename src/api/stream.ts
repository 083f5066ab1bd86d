import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AppError } from "../errors";
import type { AppEnv } from "../env";
import { STREAM_TOKEN_TTL_SECONDS } from "../squad/stream-token";
import { eventHub } from "../observability/event-hub";
import { chooseTopics, parseSince } from "../observability/topics";
import { newRouter } from "./factory";
import { streamTokenRoute, viaStreamToken } from "./middleware/access";
import { bearer, commonErrors, json } from "./openapi-common";

/**
 * WS /api/v1/stream: one socket for every topic the caller may read (system, evolution, deployments,
 * squad:<id> or squad:* for all squads). Browsers take a token first, bound to the topics it was issued for.
 */
export const streamRouter = newRouter();

const STREAM_PATH = "/api/v1/stream";

const topicsQuery = z.object({
  topics: z
    .string()
    .max(2000)
    .optional()
    .openapi({ description: "Comma-separated: system, evolution, deployments, squad:<id>, squad:* (all squads). Default: every topic the credential may read." }),
});

function topicsFor(c: Context<AppEnv>, requested: string | undefined): string[] {
  const choice = chooseTopics(requested, c.get("principal").scopes);
  if (!choice.ok) throw new AppError(choice.code, choice.detail);
  return choice.topics;
}

streamRouter.openapi(
  createRoute({
    method: "post",
    path: "/stream-token",
    tags: ["system"],
    security: bearer,
    summary: `A token for browsers to open the global stream with ?token= (valid ${STREAM_TOKEN_TTL_SECONDS} s, these topics only)`,
    request: { query: topicsQuery },
    responses: {
      201: json(z.object({ token: z.string(), expiresAt: z.string(), topics: z.array(z.string()), url: z.string() }).openapi("GlobalStreamToken"), "Token issued"),
      ...commonErrors,
    },
  }),
  async (c) => {
    const topics = topicsFor(c, c.req.valid("query").topics);
    const issued = await eventHub(c.env).streamToken(topics, c.get("principal").id);
    const url = `${STREAM_PATH}?topics=${encodeURIComponent(topics.join(","))}&token=${encodeURIComponent(issued.token)}`;
    return c.json({ ...issued, topics, url }, 201);
  },
);

streamRouter.openAPIRegistry.registerPath({
  method: "get",
  path: "/stream",
  tags: ["system"],
  security: bearer,
  summary: "WebSocket: every event the caller may read, as {topic, type, seq, ts, data} frames; ?since= resumes (a seq, or topic=seq pairs); ?token= instead of a bearer header",
  request: { query: topicsQuery.extend({ since: z.string().optional(), token: z.string().optional() }) },
  responses: { 101: { description: "Switching protocols" }, ...commonErrors },
});

streamRouter.get("/stream", streamTokenRoute, async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new AppError("bad_request", "Open the stream with a WebSocket upgrade (Upgrade: websocket).");
  const since = c.req.query("since");
  if (!parseSince(since)) throw new AppError("bad_request", "since: a seq, or topic=seq pairs separated by commas (squad:sqd_1=40,evolution=3).");
  const forward = new URL("https://event-hub/");
  if (viaStreamToken(c)) {
    // No bearer header: the token names its topics and the hub checks it was issued for exactly these.
    forward.searchParams.set("topics", c.req.query("topics") ?? "");
    forward.searchParams.set("token", c.req.query("token") ?? "");
  } else {
    forward.searchParams.set("topics", topicsFor(c, c.req.query("topics")).join(","));
  }
  if (since !== undefined) forward.searchParams.set("since", since);
  return eventHub(c.env).fetch(new Request(forward, { headers: { upgrade: "websocket" } }));
});
