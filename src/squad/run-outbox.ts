import type { Env } from "../env";
import { log } from "../observability/log";
import type { RunSink } from "../runtime/execute";
import type { RunRecord } from "../runtime/run-records";
import { flushRuns } from "../runtime/run-writer";

/** Records sent to D1 per write; more wait for the next turn of the same flush. */
const PER_FLUSH = 200;
/** After D1 and the RunBuffer both refused, the squad's alarm tries again this much later. */
export const OUTBOX_RETRY_MS = 5_000;

/**
 * Member run records, written behind the answer without ever living only in memory. A finished run's record is
 * inserted into the squad's own SQLite storage (local, no D1 round trip on the attempt's path) and committed with
 * the task's state changes that follow it; after the task's state is saved the outbox flushes to D1 the way
 * POST /execute does (one batched write, the RunBuffer object when D1 refuses) and only then deletes its rows.
 * Rows a crash or eviction leaves behind are flushed by the next instance (constructor and alarm); a repeat
 * write is harmless (INSERT OR IGNORE).
 */
export class RunOutbox {
  private flushing: Promise<boolean> | null = null;
  private again = false;

  /** The table is created with the squad's others (store.ts, schema v4). */
  constructor(private readonly sql: SqlStorage) {}

  /** The sink member runs hand their records to: synchronous, so the record is stored before the run answers. */
  readonly sink: RunSink = (record) => {
    this.sql.exec("INSERT OR IGNORE INTO run_outbox (id, record, held_at) VALUES (?, ?, ?)", record.id, JSON.stringify(record), Date.now());
  };

  held(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM run_outbox").one().n;
  }

  /** When the alarm must come back for records still held, or null. */
  nextWake(now: number): number | null {
    return this.held() > 0 ? now + OUTBOX_RETRY_MS : null;
  }

  /** Sends every held record on; false when some could not go (they stay held). One flush at a time: a call during one makes it go round again. */
  flush(env: Env): Promise<boolean> {
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    this.flushing = this.drain(env).finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async drain(env: Env): Promise<boolean> {
    do {
      this.again = false;
      for (;;) {
        const rows = this.sql.exec<{ id: string; record: string }>("SELECT id, record FROM run_outbox ORDER BY held_at, id LIMIT ?", PER_FLUSH).toArray();
        if (!rows.length) break;
        try {
          await flushRuns(
            env,
            rows.map((r) => JSON.parse(r.record) as RunRecord),
          );
        } catch (error) {
          // Still held here: the squad's alarm retries (see nextWake).
          log.warn("squad.run_outbox_flush_failed", { error, held: rows.length });
          return false;
        }
        for (const r of rows) this.sql.exec("DELETE FROM run_outbox WHERE id = ?", r.id);
        if (rows.length < PER_FLUSH) break;
      }
    } while (this.again);
    return true;
  }
}
