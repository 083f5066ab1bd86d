import { createRoute, z } from "@hono/zod-openapi";
import { AppError, unwrap } from "../errors";
import type { AppEnv } from "../env";
import { REPLAY_MAX_AGE_MS, REPLAY_MAX_EVENTS } from "../squad/events";
import { STREAM_PRINCIPAL_HEADER, STREAM_TOKEN_TTL_SECONDS } from "../squad/stream-token";
import { newRouter } from "./factory";
import { streamTokenRoute } from "./middleware/access";
import { bearer, commonErrors, json, notFound } from "./openapi-common";
import { idParam, stub, tags } from "./squad-common";

/** A squad's events: a page of the replay window, a stream token for browsers, and the WebSocket stream. Mounted inside squadsRouter, under its scopes. */
export const squadStreamsRouter = newRouter();

const eventSchema = z.object({ type: z.string(), squadId: z.string(), seq: z.number().int(), ts: z.string(), data: z.unknown() }).openapi("SquadEvent");

squadStreamsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}/events",
    tags,
    security: bearer,
    summary: `Events after a seq (kept: the last ${REPLAY_MAX_EVENTS} events, at most ${REPLAY_MAX_AGE_MS / 3_600_000} h old)`,
    request: {
      params: idParam,
      query: z.object({
        since: z.coerce.number().int().min(0).default(0).openapi({ description: "Return events with seq greater than this." }),
        limit: z.coerce.number().int().min(1).max(REPLAY_MAX_EVENTS).default(100),
      }),
    },
    responses: {
      200: json(
        z.object({ items: z.array(eventSchema), nextCursor: z.string().nullable(), oldestSeq: z.number().int().nullable(), lastSeq: z.number().int() }).openapi("SquadEventPage"),
        "Events in seq order; nextCursor is the since for the next page",
      ),
      ...commonErrors,
      ...notFound,
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { since, limit } = c.req.valid("query");
    return c.json(unwrap(await stub(c, id).events(since, limit)), 200);
  },
);

squadStreamsRouter.openapi(
  createRoute({
    method: "post",
    path: "/{id}/stream-token",
    tags,
    security: bearer,
    summary: `A token for browsers to open the stream with ?token= (valid ${STREAM_TOKEN_TTL_SECONDS} s, this squad only)`,
    request: { params: idParam },
    responses: { 201: json(z.object({ token: z.string(), expiresAt: z.string(), url: z.string() }).openapi("StreamToken"), "Issued"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const issued = unwrap(await stub(c, id).streamToken(c.get("principal").id));
    return c.json({ ...issued, url: `/api/v1/squads/${id}/stream?token=${encodeURIComponent(issued.token)}` }, 201);
  },
);

squadStreamsRouter.openAPIRegistry.registerPath({
  method: "get",
  path: "/{id}/stream",
  tags,
  security: bearer,
  summary: "WebSocket stream of squad events ({type, squadId, seq, ts, data}); ?since=seq replays missed events; ?token= instead of a bearer header",
  request: {
    params: idParam,
    query: z.object({ since: z.string().optional(), token: z.string().optional() }),
  },
  responses: { 101: { description: "Switching protocols" }, ...commonErrors, ...notFound },
});

squadStreamsRouter.get("/:id/stream", streamTokenRoute, async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new AppError("bad_request", "Open the stream with a WebSocket upgrade (Upgrade: websocket).");
  const principal = c.get("principal") as AppEnv["Variables"]["principal"] | undefined;
  const url = new URL(c.req.url);
  const forward = new URL(url.pathname, url.origin);
  for (const key of ["since", "token"]) {
    const value = url.searchParams.get(key);
    if (value !== null) forward.searchParams.set(key, value);
  }
  // A fresh request: only the upgrade and, after bearer auth here, the principal reach the squad.
  const headers = new Headers({ upgrade: "websocket" });
  if (principal) headers.set(STREAM_PRINCIPAL_HEADER, principal.id);
  return stub(c, c.req.param("id")).fetch(new Request(forward, { headers }));
});
