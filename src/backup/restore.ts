import type { Env } from "../env";
import { AppError } from "../errors";
import { BACKUP_FORMAT, BACKUP_VERSION, listTables } from "./backup";
import { quoteIdent } from "./tables";

/** Rows per D1 batch: each batch is one transaction, kept well under D1's statement limits. */
const BATCH = 100;

/** Splits a byte stream into lines without holding more than one line's worth of text. */
async function* lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) yield line;
    }
  }
  buffer += decoder.decode();
  if (buffer.trim()) yield buffer;
}

const bad = (detail: string) => new AppError("validation_failed", `Not a restorable backup: ${detail}`);

async function isEmpty(db: D1Database, tables: string[]): Promise<boolean> {
  for (const t of tables) if (await db.prepare(`SELECT 1 FROM ${quoteIdent(t)} LIMIT 1`).first()) return false;
  return true;
}

/** Deletes every row of the backed-up tables, children first. */
async function wipe(db: D1Database, tables: string[]): Promise<void> {
  await db.batch([...tables].reverse().map((t) => db.prepare(`DELETE FROM ${quoteIdent(t)}`)));
}

/**
 * Restores a backup into an empty instance, all or nothing: rows go in batch by batch, and any
 * failure (a bad line, a count that does not match the header, a D1 error) deletes everything
 * restored so far, leaving the instance empty for another try. A non-empty instance answers 409.
 */
export async function restore(env: Env, body: ReadableStream<Uint8Array>): Promise<{ counts: Record<string, number> }> {
  const db = env.DB;
  const tables = await listTables(db);
  if (!(await isEmpty(db, tables))) throw new AppError("conflict", "Restore needs an empty instance; this one already has data.");
  const known = new Set(tables);
  const columns = new Map<string, Set<string>>();
  for (const t of tables) {
    const { results } = await db.prepare(`SELECT name FROM pragma_table_info(?)`).bind(t).all<{ name: string }>();
    columns.set(t, new Set(results.map((r) => r.name)));
  }
  const seen: Record<string, number> = {};
  let header: { counts: Record<string, number> } | undefined;
  let pending: D1PreparedStatement[] = [];
  const flush = async () => {
    if (pending.length) await db.batch(pending);
    pending = [];
  };
  try {
    for await (const line of lines(body)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw bad("a line is not JSON");
      }
      if (!header) {
        const h = parsed as { format?: unknown; version?: unknown; counts?: unknown };
        if (h?.format !== BACKUP_FORMAT || h.version !== BACKUP_VERSION || typeof h.counts !== "object" || h.counts === null)
          throw bad(`the first line must be a ${BACKUP_FORMAT} version ${BACKUP_VERSION} header`);
        header = { counts: h.counts as Record<string, number> };
        continue;
      }
      const { table, row } = parsed as { table?: unknown; row?: unknown };
      if (typeof table !== "string" || !known.has(table)) throw bad(`unknown table ${JSON.stringify(table)}`);
      if (typeof row !== "object" || row === null || Array.isArray(row)) throw bad(`a ${table} row is not an object`);
      const cols = Object.keys(row);
      const allowed = columns.get(table)!;
      const unknown = cols.find((c) => !allowed.has(c));
      if (unknown) throw bad(`${table} has no column ${unknown}`);
      const values = cols.map((c) => (row as Record<string, unknown>)[c]);
      if (values.some((v) => v !== null && typeof v === "object")) throw bad(`a ${table} row holds a nested value`);
      pending.push(db.prepare(`INSERT INTO ${quoteIdent(table)} (${cols.map(quoteIdent).join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`).bind(...values));
      seen[table] = (seen[table] ?? 0) + 1;
      if (pending.length >= BATCH) await flush();
    }
    await flush();
    if (!header) throw bad("it is empty");
    for (const [t, n] of Object.entries(header.counts)) {
      if ((seen[t] ?? 0) !== n) throw bad(`the header promises ${n} ${t} rows; the stream held ${seen[t] ?? 0}`);
    }
    return { counts: seen };
  } catch (err) {
    await wipe(db, tables);
    throw err;
  }
}
