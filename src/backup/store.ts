import type { Env } from "../env";
import { AppError } from "../errors";
import { backupStream } from "./backup";

/** Backups live under this prefix in the BACKUPS bucket, named by creation time so keys sort by age. */
const PREFIX = "backups/";
/** When the daily backup runs (wrangler.toml [triggers]); the other cron is the evolution tick. */
export const DAILY_BACKUP_CRON = "0 3 * * *";

const retention = (env: Env) => {
  const n = Number(env.BACKUP_RETENTION);
  return Number.isInteger(n) && n > 0 ? n : 14;
};

export const backupName = (now: number) => `${new Date(now).toISOString().replaceAll(":", "-")}.ndjson`;

/**
 * Writes a backup to R2 and keeps the newest BACKUP_RETENTION (default 14). R2 needs a known
 * length for a streamed put, so the NDJSON is gathered first (a control plane is megabytes).
 */
export async function writeBackup(env: Env, now = Date.now()): Promise<{ name: string; size: number; deleted: string[] }> {
  const text = await new Response(backupStream(env, now)).text();
  const name = backupName(now);
  const object = await env.BACKUPS.put(`${PREFIX}${name}`, text, { httpMetadata: { contentType: "application/x-ndjson" } });
  const all = await listBackups(env);
  const stale = all.slice(retention(env));
  if (stale.length) await env.BACKUPS.delete(stale.map((b) => `${PREFIX}${b.name}`));
  return { name, size: object.size, deleted: stale.map((b) => b.name) };
}

/** Stored backups, newest first. */
export async function listBackups(env: Env): Promise<{ name: string; size: number; uploadedAt: string }[]> {
  const found: R2Object[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.BACKUPS.list({ prefix: PREFIX, cursor });
    found.push(...page.objects);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return found
    .map((o) => ({ name: o.key.slice(PREFIX.length), size: o.size, uploadedAt: o.uploaded.toISOString() }))
    .sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
}

export async function readBackup(env: Env, name: string): Promise<R2ObjectBody> {
  if (!/^[0-9A-Za-z.-]+\.ndjson$/.test(name)) throw new AppError("not_found", `No backup ${name}.`);
  const object = await env.BACKUPS.get(`${PREFIX}${name}`);
  if (!object) throw new AppError("not_found", `No backup ${name}.`);
  return object;
}
