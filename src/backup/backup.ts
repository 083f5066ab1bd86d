import type { Env } from "../env";
import { backupTables, quoteIdent } from "./tables";

export const BACKUP_FORMAT = "tdev-backup";
export const BACKUP_VERSION = 1;
/** Rows read per query while streaming. */
const PAGE = 500;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  version: typeof BACKUP_VERSION;
  createdAt: string;
  counts: Record<string, number>;
}

export async function listTables(db: D1Database): Promise<string[]> {
  const { results } = await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all<{ name: string }>();
  return backupTables(results.map((r) => r.name));
}

/**
 * The whole control plane as NDJSON: a header line with each table's row count, then one
 * `{"table", "row"}` line per row, table by table in restore order, rows in rowid order.
 * Secrets never live in D1 (API keys are stored as hashes), so none are in a backup.
 */
export function backupStream(env: Env, now = Date.now()): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        const tables = await listTables(env.DB);
        const counts: Record<string, number> = {};
        for (const t of tables) counts[t] = (await env.DB.prepare(`SELECT count(*) AS n FROM ${quoteIdent(t)}`).first<{ n: number }>())?.n ?? 0;
        const header: BackupHeader = { format: BACKUP_FORMAT, version: BACKUP_VERSION, createdAt: new Date(now).toISOString(), counts };
        controller.enqueue(encoder.encode(`${JSON.stringify(header)}\n`));
        for (const table of tables) {
          let after = -Infinity;
          for (;;) {
            const { results } = await env.DB.prepare(`SELECT rowid AS __rowid, * FROM ${quoteIdent(table)} WHERE rowid > ? ORDER BY rowid LIMIT ${PAGE}`)
              .bind(Number.isFinite(after) ? after : -9007199254740991)
              .all<Record<string, unknown>>();
            if (!results.length) break;
            const lines = results.map(({ __rowid, ...row }) => {
              after = Number(__rowid);
              return `${JSON.stringify({ table, row })}\n`;
            });
            controller.enqueue(encoder.encode(lines.join("")));
            if (results.length < PAGE) break;
          }
        }
        controller.close();
      } catch (err) {
        controller.error(err);
      }
    },
  });
}
