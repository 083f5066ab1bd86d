import { createMiddleware } from "hono/factory";
import { AppError } from "../../errors";
import type { AppEnv } from "../../env";
import type { Scope } from "../../auth/scopes";
import { authenticate } from "../../auth/credentials";

const challenge = { "WWW-Authenticate": 'Bearer realm="t-developer-edge"' };

/** Establishes the caller from `Authorization: Bearer …` (API key, JWT or the bootstrap admin key). */
export const requireAuth = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header("authorization");
  const token = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  if (!token) throw new AppError("unauthorized", "Send credentials as Authorization: Bearer <api key or JWT>.", { headers: challenge });
  const principal = await authenticate(c.env, token);
  if (!principal) {
    throw new AppError("unauthorized", "The credentials are invalid, expired or revoked.", {
      headers: { "WWW-Authenticate": 'Bearer realm="t-developer-edge", error="invalid_token"' },
    });
  }
  c.set("principal", principal);
  await next();
});

export const requireScope = (scope: Scope) =>
  createMiddleware<AppEnv>(async (c, next) => {
    if (!c.get("principal").scopes.has(scope)) throw new AppError("forbidden", `This operation needs the ${scope} scope.`, { requiredScope: scope });
    await next();
  });
