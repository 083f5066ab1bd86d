import { createRoute, z } from "@hono/zod-openapi";
import { createApiKey, getApiKey, listApiKeys, revokeApiKey } from "../auth/keys";
import { SCOPES } from "../auth/scopes";
import { registryDb } from "../registry/store";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { bearer, commonErrors, json, jsonBody, notFound, pageOf, pageQuery } from "./openapi-common";

const scopeSchema = z.enum(SCOPES).openapi("Scope");

const apiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string().openapi({ description: "First characters of the key, to tell keys apart" }),
    scopes: z.array(z.string()),
    createdAt: z.string(),
    createdBy: z.string().openapi({ description: "Principal that created the key" }),
    revokedAt: z.string().nullable(),
    expiresAt: z.string().nullable().openapi({ description: "After this instant the key is refused (401) like a revoked one; null: never expires" }),
    lastUsedAt: z.string().nullable().openapi({ description: "When the key last authenticated a request; recorded at most once a minute, so up to a minute behind" }),
  })
  .openapi("ApiKey");

const createdKeySchema = apiKeySchema
  .extend({ key: z.string().openapi({ description: "The secret key (tdk_…). Shown only in this response; store it now." }) })
  .openapi("CreatedApiKey");

const createKeySchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    scopes: z.array(scopeSchema).min(1).max(SCOPES.length),
    expiresAt: z
      .string()
      .datetime({ offset: true })
      .optional()
      .openapi({ description: "When the key stops working (RFC 3339, in the future); omit for a key that does not expire" }),
  })
  .strict()
  .openapi("CreateApiKey");

const idParam = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" }, description: "API key id" }),
});

const tags = ["keys"];

export const keysRouter = newRouter();

keysRouter.use("*", requireScope("keys:admin"));

keysRouter.openapi(
  createRoute({
    method: "post",
    path: "/",
    tags,
    security: bearer,
    summary: "Create an API key (returned once; only its SHA-256 is stored)",
    description: "The new key may hold only scopes the caller holds.",
    request: { body: jsonBody(createKeySchema) },
    responses: { 201: json(createdKeySchema, "Created"), ...commonErrors },
  }),
  async (c) => {
    const created = await createApiKey(registryDb(c.env.DB), c.req.valid("json"), c.get("principal"));
    c.header("Cache-Control", "no-store");
    return c.json(created, 201);
  },
);

keysRouter.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags,
    security: bearer,
    summary: "List API keys, revoked ones included (never the key or its hash)",
    request: { query: pageQuery },
    responses: { 200: json(pageOf(apiKeySchema, "ApiKeyPage"), "A page of keys"), ...commonErrors },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await listApiKeys(registryDb(c.env.DB), limit, cursor), 200);
  },
);

keysRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}",
    tags,
    security: bearer,
    summary: "Get one API key's metadata",
    request: { params: idParam },
    responses: { 200: json(apiKeySchema, "The key"), ...commonErrors, ...notFound },
  }),
  async (c) => c.json(await getApiKey(registryDb(c.env.DB), c.req.valid("param").id), 200),
);

keysRouter.openapi(
  createRoute({
    method: "delete",
    path: "/{id}",
    tags,
    security: bearer,
    summary: "Revoke an API key (in force for the next request; idempotent)",
    request: { params: idParam },
    responses: { 204: { description: "Revoked" }, ...commonErrors, ...notFound },
  }),
  async (c) => {
    await revokeApiKey(c.env, c.req.valid("param").id);
    return c.body(null, 204);
  },
);
