import { getTableColumns } from "drizzle-orm";
import { analyticsPoint, countMetric, observeMetric } from "../observability/record";
import { runs, type RunRow } from "./schema";

/** A finished run, as it will be stored. */
export type RunRecord = RunRow;

/**
 * A runs row has 27 columns and D1 binds at most 100 parameters per statement, so a plain multi-row
 * INSERT holds only 3 rows. Instead the rows ride as one JSON array in a single parameter and
 * SQLite's json_each spreads them: one statement writes any number of rows. Each statement's
 * parameter stays under this many bytes (D1 caps a string value at 2,000,000 bytes).
 */
export const MAX_STATEMENT_JSON_BYTES = 900_000;

const columns = Object.entries(getTableColumns(runs)).map(([key, column]) => ({ key, name: column.name }));

/**
 * `INSERT OR IGNORE`: a record written twice (a retry after a lost answer) stays one row. Each row is a JSON array
 * in column order, read by position (`value ->> n`): by key name, SQLite looks up 27 names in every row.
 */
const INSERT_SQL = `INSERT OR IGNORE INTO runs (${columns.map((c) => `"${c.name}"`).join(", ")})
  SELECT ${columns.map((_, i) => `value ->> ${i}`).join(", ")} FROM json_each(?1)`;

/** The JSON form json_each reads: values in column order, booleans as 0/1, the json `logs` column as nested JSON (`->>` gives its text). */
function jsonRow(row: RunRecord): unknown[] {
  return columns.map(({ key }) => (key === "limitViolation" ? (row.limitViolation ? 1 : 0) : (row[key as keyof RunRecord] ?? null)));
}

const encoder = new TextEncoder();

/** Rows packed into as few JSON parameters as fit; a row never splits. Pure. */
export function chunkRows(rows: readonly RunRecord[], maxBytes = MAX_STATEMENT_JSON_BYTES): string[] {
  const chunks: string[] = [];
  let current: string[] = [];
  let bytes = 2;
  for (const row of rows) {
    const json = JSON.stringify(jsonRow(row));
    const size = encoder.encode(json).byteLength + 1;
    if (current.length && bytes + size > maxBytes) {
      chunks.push(`[${current.join(",")}]`);
      current = [];
      bytes = 2;
    }
    current.push(json);
    bytes += size;
  }
  if (current.length) chunks.push(`[${current.join(",")}]`);
  return chunks;
}

/** The statements that write `rows`; usually one. */
export function runInsertStatements(d1: D1Database, rows: readonly RunRecord[]): D1PreparedStatement[] {
  return chunkRows(rows).map((chunk) => d1.prepare(INSERT_SQL).bind(chunk));
}

/** Writes run records in one D1 round trip (one batch of usually one statement); idempotent. */
export async function writeRuns(d1: D1Database, rows: readonly RunRecord[]): Promise<void> {
  const statements = runInsertStatements(d1, rows);
  if (statements.length) await d1.batch(statements);
}

/** Counts a finished run in the metrics (once, when it ends; not again when its record is retried). */
export function countRun(row: RunRecord): void {
  countMetric("tdev_runs_total", { agent: row.agentName, kind: row.kind, status: row.status });
  observeMetric("tdev_run_duration_seconds", { kind: row.kind }, row.durationMs / 1000);
  analyticsPoint("run", [row.agentName, row.kind, row.status, row.traceId ?? ""], [row.durationMs / 1000, row.totalTokens ?? 0]);
}
