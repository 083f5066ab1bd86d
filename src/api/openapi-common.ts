import { z } from "@hono/zod-openapi";

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    requestId: z.string().optional(),
  })
  .openapi("Problem");

const problem = (description: string, headers?: Record<string, { description: string; schema: { type: "string" } }>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { "application/problem+json": { schema: problemSchema } },
});

const header = (description: string) => ({ description, schema: { type: "string" as const } });

/** Error responses every authenticated route can give. */
export const commonErrors = {
  400: problem("Malformed request"),
  401: problem("Missing or invalid credentials", { "WWW-Authenticate": header('Bearer realm="t-developer-edge", with error="invalid_token" when a credential was refused') }),
  403: problem("Missing scope"),
  413: problem("Body too large"),
  422: problem("Validation failed"),
  429: problem("Rate limited", {
    "Retry-After": header("Seconds until a token is available"),
    "RateLimit-Limit": header("Bucket capacity"),
    "RateLimit-Remaining": header("Tokens left"),
    "RateLimit-Reset": header("Seconds until the bucket is full again"),
  }),
} as const;

export const notFound = { 404: problem("Not found") } as const;
export const conflict = { 409: problem("Conflict") } as const;

export const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
export const jsonBody = <T extends z.ZodType>(schema: T) => ({ required: true, content: { "application/json": { schema } } });

export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ description: "Page size, at most 100." }),
  cursor: z.string().max(500).optional().openapi({ description: "nextCursor from the previous page." }),
});

export const pageOf = <T extends z.ZodType>(item: T, name: string) => z.object({ items: z.array(item), nextCursor: z.string().nullable() }).openapi(name);

export const bearer = [{ bearer: [] }];
