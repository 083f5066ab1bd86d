import { createMiddleware } from "hono/factory";
import { AppError } from "../../errors";
import type { AppEnv } from "../../env";
import type { Scope } from "../../auth/scopes";
import { authenticate } from "../../auth/credentials";
import { recordKeyUse } from "../../auth/keys";
import { registryDb } from "../../registry/store";

const REALM = 'Bearer realm="t-developer-edge"';

/** Establishes the caller from `Authorization: Bearer …` (API key, JWT or the bootstrap admin key). */
export const requireAuth = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header("authorization");
  const token = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  if (!token) throw new AppError("unauthorized", "Send credentials as Authorization: Bearer <api key or JWT>.", { headers: { "WWW-Authenticate": REALM } });
  const result = await authenticate(c.env, token);
  if (!result.ok) {
    // RFC 6750 §3: the reason goes in error_description; it never echoes the token.
    throw new AppError("unauthorized", `The credentials were refused: ${result.reason}.`, {
      headers: { "WWW-Authenticate": `${REALM}, error="invalid_token", error_description="${result.reason}"` },
    });
  }
  c.set("principal", result.principal);
  if (result.rateLimit) c.set("rateLimit", result.rateLimit);
  // The key's last-used time is bookkeeping: its write runs beside the request (waitUntil), never awaited by it.
  if (result.keyUse) {
    const { keyId, at } = result.keyUse;
    c.executionCtx.waitUntil(
      recordKeyUse(registryDb(c.env.DB), keyId, at).catch((err: unknown) => console.error(JSON.stringify({ at: "recordKeyUse", keyId, error: String(err) }))),
    );
  }
  await next();
});

/**
 * agents:read for GETs and for the POSTs that only read (`readingPosts`, matched against the whole path: exactly
 * those routes, so a write whose path merely ends like one is not mistaken for it); squads:run for every other method.
 */
export const requireReadOrRun = (readingPosts: RegExp) => {
  const read = requireScope("agents:read");
  const run = requireScope("squads:run");
  return createMiddleware<AppEnv>(async (c, next) => (c.req.method === "GET" || (c.req.method === "POST" && readingPosts.test(c.req.path)) ? read : run)(c, next));
};

export const requireScope = (scope: Scope) =>
  createMiddleware<AppEnv>(async (c, next) => {
    if (!c.get("principal").scopes.has(scope)) {
      throw new AppError("forbidden", `This operation needs the ${scope} scope.`, {
        requiredScope: scope,
        headers: { "WWW-Authenticate": `${REALM}, error="insufficient_scope", scope="${scope}"` },
      });
    }
    await next();
  });
