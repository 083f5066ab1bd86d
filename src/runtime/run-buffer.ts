import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { log } from "../observability/log";
import { writeRuns, type RunRecord } from "./run-records";

/** Records written to D1 per alarm; the rest wait for the next one. */
const PER_ALARM = 200;
/** Retry delays after a failed write: 1 s doubling to 5 min, forever (a record is never dropped). */
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 5 * 60_000;

export const retryDelayMs = (failures: number) => Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));

/**
 * The durable place run records wait in when their write behind the answer failed: rows sit in this
 * object's SQLite storage until an alarm writes them to D1 (INSERT OR IGNORE, so a repeat is harmless)
 * and only then deletes them. The alarm is re-armed before each write, so a crash mid-write retries.
 */
export class RunBuffer extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS held_runs (id TEXT PRIMARY KEY, record TEXT NOT NULL, held_at INTEGER NOT NULL)");
    });
  }

  /** Keeps the records and asks for a write now; answers once they are stored. */
  async hold(records: RunRecord[]): Promise<void> {
    const now = Date.now();
    for (const r of records) this.ctx.storage.sql.exec("INSERT OR IGNORE INTO held_runs (id, record, held_at) VALUES (?, ?, ?)", r.id, JSON.stringify(r), now);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now);
  }

  /** How many records wait (for tests and the dashboard). */
  async heldCount(): Promise<number> {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM held_runs").one().n;
  }

  override async alarm(): Promise<void> {
    const rows = this.ctx.storage.sql.exec<{ id: string; record: string }>("SELECT id, record FROM held_runs ORDER BY held_at, id LIMIT ?", PER_ALARM).toArray();
    if (!rows.length) return;
    const failures = ((await this.ctx.storage.get<number>("failures")) ?? 0) + 1;
    // Re-armed before the write: if it throws or the object dies, the alarm comes back.
    await this.ctx.storage.setAlarm(Date.now() + retryDelayMs(failures));
    try {
      await writeRuns(
        this.env.DB,
        rows.map((r) => JSON.parse(r.record) as RunRecord),
      );
    } catch (error) {
      await this.ctx.storage.put("failures", failures);
      log.error("runs.buffer_write_failed", { error, held: rows.length, failures });
      return;
    }
    for (const r of rows) this.ctx.storage.sql.exec("DELETE FROM held_runs WHERE id = ?", r.id);
    await this.ctx.storage.delete("failures");
    const left = await this.heldCount();
    if (left) await this.ctx.storage.setAlarm(Date.now());
    else await this.ctx.storage.deleteAlarm();
  }
}
