import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { mergeInto, type MetricsBatch } from "./metrics";

/** Series beyond this many are refused, so a label bug cannot grow storage without bound. */
export const MAX_SERIES = 5_000;

/** As the rate limiter: merges live in memory and storage is written behind an alarm, not per batch. */
export const FLUSH_DELAY_MS = 1_000;

const PREFIX = "s:";

/**
 * Global counters: isolates send batches here after their responses; a scrape merges every shard.
 * A thin shell over metrics.ts. Each series is one storage row, so a flush writes only what changed.
 */
export class MetricsAggregator extends DurableObject<Env> {
  #series: MetricsBatch | undefined;
  #dirty = new Set<string>();

  #load(): MetricsBatch {
    if (!this.#series) {
      this.#series = {};
      for (const [key, value] of this.ctx.storage.kv.list<MetricsBatch[string]>({ prefix: PREFIX })) this.#series[key.slice(PREFIX.length)] = value;
    }
    return this.#series;
  }

  /** Merges one isolate's batch; series that would pass MAX_SERIES are dropped (and counted as dropped). */
  add(batch: MetricsBatch): { dropped: number } {
    const series = this.#load();
    let room = MAX_SERIES - Object.keys(series).length;
    const accepted: MetricsBatch = {};
    let dropped = 0;
    for (const [key, s] of Object.entries(batch)) {
      if (key in series || room-- > 0) accepted[key] = s;
      else dropped++;
    }
    const changed = mergeInto(series, accepted);
    if (changed.length && this.#dirty.size === 0) void this.ctx.storage.setAlarm(Date.now() + FLUSH_DELAY_MS);
    for (const key of changed) this.#dirty.add(key);
    return { dropped };
  }

  snapshot(): MetricsBatch {
    return this.#load();
  }

  /** Writes the changed series. Idempotent. */
  override alarm(): void {
    const series = this.#load();
    for (const key of this.#dirty) this.ctx.storage.kv.put(PREFIX + key, series[key]);
    this.#dirty.clear();
  }
}
