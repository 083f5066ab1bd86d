import { env as workerEnv, waitUntil } from "cloudflare:workers";
import type { Env } from "../env";
import { log } from "./log";
import { addCount, addObservation, mergeInto, setGauge, type Labels, type MetricName, type MetricsBatch } from "./metrics";
import { invocationBatch } from "../invocation";

/**
 * Recording metrics from anywhere (requests, queue handlers, Durable Objects, workflows) without a round trip
 * on the critical path: values collect in this isolate's batch and one send after the work (`waitUntil`)
 * merges the batch into a MetricsAggregator shard. Reads merge every shard.
 */
export const METRIC_SHARDS = 4;

/**
 * How long an isolate collects before it sends: requests close together share one send. Each send is a write to
 * an aggregator shard, so the window sets a busy isolate's writes a second (two here; at 50 ms, twenty, which
 * a few hundred busy isolates would have made more than four shards take). Metrics are read in seconds.
 */
const BATCH_WINDOW_MS = 500;

let pending: MetricsBatch | undefined;
const env = workerEnv as unknown as Env;

export const shardName = (i: number) => `metrics:${i}`;

function batch(): MetricsBatch {
  // A queue invocation collects its own batch and sends it when it ends (invocation.ts), with no timer.
  const scoped = invocationBatch<MetricsBatch>("metrics", () => ({}), send);
  if (scoped) return scoped;
  if (pending) return pending;
  const mine: MetricsBatch = {};
  pending = mine;
  try {
    waitUntil(new Promise((resolve) => setTimeout(resolve, BATCH_WINDOW_MS)).then(() => send(mine)));
  } catch (error) {
    // Outside any request (module scope) there is nothing to extend; the next batch will carry these values.
    pending = undefined;
    log.warn("metrics.unscheduled", { error });
  }
  return mine;
}

async function send(mine: MetricsBatch): Promise<void> {
  if (pending === mine) pending = undefined;
  if (!env.METRICS) return;
  try {
    const shard = env.METRICS.getByName(shardName(Math.floor(Math.random() * METRIC_SHARDS)));
    await shard.add(mine);
  } catch (error) {
    // Metrics never fail the work they describe; a lost batch shows as a gap, and is logged.
    log.warn("metrics.send_failed", { error, series: Object.keys(mine).length });
  }
}

export function countMetric(name: MetricName, labels: Labels = {}, n = 1): void {
  addCount(batch(), name, labels, n);
}

export function observeMetric(name: MetricName, labels: Labels, value: number): void {
  addObservation(batch(), name, labels, value);
}

export function gaugeMetric(name: MetricName, labels: Labels, value: number): void {
  setGauge(batch(), name, labels, value, Date.now());
}

/** Every shard merged: the global numbers. */
export async function readMetrics(ns: Env["METRICS"]): Promise<MetricsBatch> {
  const shards = await Promise.all(Array.from({ length: METRIC_SHARDS }, (_, i) => ns.getByName(shardName(i)).snapshot()));
  const all: MetricsBatch = {};
  for (const s of shards) mergeInto(all, s as MetricsBatch);
  return all;
}

/** A Workers Analytics Engine data point, when the ANALYTICS binding is configured (production dashboards). */
export function analyticsPoint(kind: "request" | "run", blobs: string[], doubles: number[]): void {
  try {
    env.ANALYTICS?.writeDataPoint({ indexes: [kind], blobs: [kind, ...blobs], doubles });
  } catch (error) {
    log.warn("analytics.write_failed", { error });
  }
}
