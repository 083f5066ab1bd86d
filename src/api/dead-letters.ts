import { createRoute, z } from "@hono/zod-openapi";
import { DEAD_LETTER_REASONS, deleteDeadLetter, getDeadLetter, listDeadLetters, replayDeadLetter } from "../messaging/dead-letters";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { bearer, commonErrors, conflict, json, notFound, pageOf, pageQuery } from "./openapi-common";

const deadLetterSchema = z
  .object({
    id: z.string().openapi({ description: "The message id (qm_… when the envelope could not be trusted)" }),
    reason: z.string().openapi({ description: DEAD_LETTER_REASONS.join(" | ") }),
    attempts: z.number().int(),
    firstError: z.string().nullable(),
    lastError: z.string().nullable(),
    target: z.string().nullable(),
    kind: z.string().nullable(),
    priority: z.number().int().nullable(),
    queue: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    replayedAt: z.string().nullable(),
    replayCount: z.number().int(),
    traceId: z.string().nullable().openapi({ description: "W3C trace id the message was sent in (GET /runs?traceId= finds the runs it caused)" }),
  })
  .openapi("DeadLetter");

const idParam = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" } }),
});
const tags = ["dead-letters"];

export const deadLettersRouter = newRouter();
deadLettersRouter.use("*", requireScope("squads:run"));

deadLettersRouter.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags,
    security: bearer,
    summary: "List dead letters, newest first",
    request: {
      query: pageQuery.extend({
        reason: z.enum(DEAD_LETTER_REASONS).optional(),
        target: z.string().max(300).optional().openapi({ description: "An address such as squad:sqd_… or agent:name" }),
      }),
    },
    responses: { 200: json(pageOf(deadLetterSchema, "DeadLetterPage"), "A page of dead letters"), ...commonErrors },
  }),
  async (c) => c.json(await listDeadLetters(c.env.DB, c.req.valid("query")), 200),
);

deadLettersRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}",
    tags,
    security: bearer,
    summary: "One dead letter with its (still encrypted) envelope",
    request: { params: idParam },
    responses: { 200: json(deadLetterSchema.extend({ envelope: z.unknown() }).openapi("DeadLetterDetail"), "The dead letter"), ...commonErrors, ...notFound },
  }),
  async (c) => c.json(await getDeadLetter(c.env.DB, c.req.valid("param").id), 200),
);

deadLettersRouter.openapi(
  createRoute({
    method: "post",
    path: "/{id}/replay",
    tags,
    security: bearer,
    summary: "Send the message again (same id and bytes) and mark it replayed",
    request: { params: idParam },
    responses: { 202: json(deadLetterSchema, "Re-queued"), ...commonErrors, ...notFound, ...conflict },
  }),
  async (c) => c.json(await replayDeadLetter(c.env, c.req.valid("param").id), 202),
);

deadLettersRouter.openapi(
  createRoute({
    method: "delete",
    path: "/{id}",
    tags,
    security: bearer,
    summary: "Forget a dead letter",
    request: { params: idParam },
    responses: { 204: { description: "Deleted" }, ...commonErrors, ...notFound },
  }),
  async (c) => {
    await deleteDeadLetter(c.env.DB, c.req.valid("param").id);
    return c.body(null, 204);
  },
);
