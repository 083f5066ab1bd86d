import { setGauge, type MetricsBatch } from "./metrics";

/**
 * Series whose truth is already in D1 rows (dead letters, candidates, promotions): read at scrape time in one
 * batch instead of counted on the side, so they stay right after restarts, replays and retried steps.
 */
export async function derivedMetrics(db: D1Database, now = Date.now()): Promise<MetricsBatch> {
  const [dead, candidates, promotions, rollbacks] = await db.batch<Record<string, unknown>>([
    db.prepare("SELECT count(*) AS n FROM dead_letters"),
    db.prepare("SELECT status, count(*) AS n FROM evolution_candidates GROUP BY status"),
    db.prepare("SELECT mode, count(*) AS n FROM promotions GROUP BY mode"),
    db.prepare("SELECT count(*) AS n FROM promotions WHERE status = 'rolled_back'"),
  ]);
  const out: MetricsBatch = {};
  const n = (row: Record<string, unknown> | undefined) => Number(row?.n ?? 0);
  setGauge(out, "tdev_dead_letters", {}, n(dead!.results[0]), now);
  for (const row of candidates!.results) setGauge(out, "tdev_evolution_candidates_total", { status: String(row.status) }, n(row), now);
  for (const row of promotions!.results) setGauge(out, "tdev_promotions_total", { mode: String(row.mode) }, n(row), now);
  setGauge(out, "tdev_rollbacks_total", {}, n(rollbacks!.results[0]), now);
  return out;
}
