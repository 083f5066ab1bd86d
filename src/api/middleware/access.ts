import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "../../env";
import { requireAuth } from "./auth";

/**
 * Each route declares how callers get in by listing a marker among its handlers; the one auth middleware
 * reads the markers of the route it is about to run, so no list of paths has to be kept in step with the routes.
 * A route without a marker needs bearer credentials (fail closed).
 */

/** Declares a route that answers without credentials (health, the OpenAPI document, the docs page). */
export const publicRoute: MiddlewareHandler<AppEnv> = createMiddleware<AppEnv>(async (_c, next) => next());

/**
 * Declares a WebSocket route that browsers may open with `?token=` instead of a bearer header (a browser
 * cannot set headers on a WebSocket); the stream's owner verifies that token itself.
 */
export const streamTokenRoute: MiddlewareHandler<AppEnv> = createMiddleware<AppEnv>(async (_c, next) => next());

/** Hono wraps a sub-app's handlers that have their own error handler; the original is kept under this key. */
const COMPOSED_HANDLER = "__COMPOSED_HANDLER";

type Marker = "public" | "stream-token" | "none";

/** The marker each registered route carries, worked out once per route (routes live as long as the app). */
const markers = new WeakMap<object, Marker>();

function markerOf(route: { handler: unknown }): Marker {
  let marker = markers.get(route);
  if (marker) return marker;
  let h: unknown = route.handler;
  while (typeof h === "function" && COMPOSED_HANDLER in h) h = (h as unknown as Record<string, unknown>)[COMPOSED_HANDLER];
  marker = h === publicRoute ? "public" : h === streamTokenRoute ? "stream-token" : "none";
  markers.set(route, marker);
  return marker;
}

export type Access = "public" | "stream-token" | "bearer";

/** How this request gets into the route it matched: one pass over the matched routes. */
export function access(c: Context<AppEnv>): Access {
  let streamToken = false;
  for (const route of matchedRoutes(c)) {
    const marker = markerOf(route);
    if (marker === "public") return "public";
    if (marker === "stream-token") streamToken = true;
  }
  return streamToken && c.req.query("token") !== undefined && !c.req.header("authorization") ? "stream-token" : "bearer";
}

/** The request opens a stream with `?token=` and no bearer header: the stream's owner checks the token, nothing here did. */
export const viaStreamToken = (c: Context<AppEnv>) => access(c) === "stream-token";

/** Bearer authentication for every route that does not declare another way in. */
export const authenticate = createMiddleware<AppEnv>(async (c, next) => (access(c) === "bearer" ? requireAuth(c, next) : next()));
