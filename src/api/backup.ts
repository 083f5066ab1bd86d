import { createRoute, z } from "@hono/zod-openapi";
import { backupStream } from "../backup/backup";
import { restore } from "../backup/restore";
import { listBackups, readBackup, writeBackup } from "../backup/store";
import { AppError } from "../errors";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { bearer, commonErrors, conflict, json, notFound } from "./openapi-common";

const tags = ["backup"];
const admin = requireScope("keys:admin");
const NDJSON = "application/x-ndjson";

const ndjson = (description: string) => ({
  description,
  content: {
    [NDJSON]: {
      schema: z.string().openapi({ description: 'One JSON document per line: a header {format: "tdev-backup", version: 1, createdAt, counts}, then {table, row} per row.' }),
    },
  },
});
const backupSchema = z.object({ name: z.string(), size: z.number().int(), uploadedAt: z.string() }).openapi("Backup");

/** Restores stream their body past the API's usual body limit (app.ts lets this path through). */
export const RESTORE_PATH = "/api/v1/restore";

export const backupRouter = newRouter();

backupRouter.openapi(
  createRoute({
    method: "get",
    path: "/backup",
    tags,
    security: bearer,
    middleware: [admin] as const,
    summary: "Stream a backup of the whole control plane as NDJSON (no secrets: API keys as hashes only)",
    responses: { 200: ndjson("The backup"), ...commonErrors },
  }),
  (c) => new Response(backupStream(c.env), { status: 200, headers: { "content-type": NDJSON, "content-disposition": 'attachment; filename="tdev-backup.ndjson"' } }) as never,
);

backupRouter.openapi(
  createRoute({
    method: "post",
    path: "/restore",
    tags,
    security: bearer,
    middleware: [admin] as const,
    summary: "Restore a backup into an empty instance, all or nothing (a failure leaves it empty); streamed, no body limit",
    request: { body: { required: true, content: { [NDJSON]: { schema: z.string() } } } },
    responses: { 200: json(z.object({ counts: z.record(z.string(), z.number().int()) }).openapi("RestoreResult"), "Restored"), ...commonErrors, ...conflict },
  }),
  async (c) => {
    const body = c.req.raw.body;
    if (!body) throw new AppError("validation_failed", "Send the backup as the request body.");
    return c.json(await restore(c.env, body), 200);
  },
);

backupRouter.openapi(
  createRoute({
    method: "post",
    path: "/backups",
    tags,
    security: bearer,
    middleware: [admin] as const,
    summary: "Write a backup to R2 now (the daily cron does this too) and prune to BACKUP_RETENTION",
    responses: { 201: json(z.object({ name: z.string(), size: z.number().int(), deleted: z.array(z.string()) }).openapi("BackupWritten"), "Written"), ...commonErrors },
  }),
  async (c) => c.json(await writeBackup(c.env), 201),
);

backupRouter.openapi(
  createRoute({
    method: "get",
    path: "/backups",
    tags,
    security: bearer,
    middleware: [admin] as const,
    summary: "Backups kept in R2, newest first",
    responses: { 200: json(z.object({ items: z.array(backupSchema) }).openapi("BackupList"), "Backups"), ...commonErrors },
  }),
  async (c) => c.json({ items: await listBackups(c.env) }, 200),
);

backupRouter.openapi(
  createRoute({
    method: "get",
    path: "/backups/{key}",
    tags,
    security: bearer,
    middleware: [admin] as const,
    summary: "Download one stored backup",
    request: {
      params: z.object({
        key: z
          .string()
          .min(1)
          .max(200)
          .openapi({ param: { name: "key", in: "path" } }),
      }),
    },
    responses: { 200: ndjson("The backup"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const object = await readBackup(c.env, c.req.valid("param").key);
    return new Response(object.body, { status: 200, headers: { "content-type": NDJSON, "content-length": String(object.size) } }) as never;
  },
);
