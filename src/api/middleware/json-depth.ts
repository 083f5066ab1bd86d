import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../../env";
import { jsonDepth, jsonTooDeep, MAX_JSON_DEPTH } from "../../registry/canonical";

/** The content types Hono's JSON validator reads (application/json, application/*+json). */
const JSON_TYPE = /^application\/([a-z-.]+\+)?json(;|\s|$)/i;

/**
 * Every JSON body is parsed once here and refused when it nests deeper than MAX_JSON_DEPTH, before a
 * handler or a recursive walker (zod, canonical JSON, template scans) sees it. The parse is cached
 * on the request, so the route's validator reads the same value. Malformed JSON is left to the validator.
 */
export const limitJsonDepth = createMiddleware<AppEnv>(async (c, next) => {
  if (c.req.method === "GET" || c.req.method === "HEAD" || !JSON_TYPE.test(c.req.header("content-type") ?? "")) return next();
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return next();
  }
  if (jsonDepth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw jsonTooDeep();
  return next();
});
