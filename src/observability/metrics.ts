/**
 * The metric series this system reports and the arithmetic over them: batches are recorded in an isolate,
 * merged in the aggregator, and rendered as Prometheus text (exposition format 0.0.4) or JSON. Pure.
 */
export type MetricKind = "counter" | "gauge" | "histogram";

interface SeriesDef {
  kind: MetricKind;
  help: string;
  labels: readonly string[];
  buckets?: readonly number[];
}

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
const RUN_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

export const SERIES = {
  tdev_http_requests_total: { kind: "counter", help: "HTTP requests by route template, method and status.", labels: ["route", "method", "status"] },
  tdev_http_request_duration_seconds: { kind: "histogram", help: "HTTP request duration by route template.", labels: ["route"], buckets: HTTP_BUCKETS },
  tdev_runs_total: { kind: "counter", help: "Agent runs by agent, kind and status.", labels: ["agent", "kind", "status"] },
  tdev_run_duration_seconds: { kind: "histogram", help: "Agent run duration by kind.", labels: ["kind"], buckets: RUN_BUCKETS },
  tdev_tasks_total: { kind: "counter", help: "Squad tasks reaching a status.", labels: ["status"] },
  tdev_messages_total: { kind: "counter", help: "Messages handled by the consumer, by priority band and outcome.", labels: ["band", "outcome"] },
  tdev_dead_letters_total: {
    kind: "counter",
    help: "Messages dead-lettered, by reason and queue (an alert: each one is also a message.dead_lettered event on topic system).",
    labels: ["reason", "queue"],
  },
  tdev_dead_letters: { kind: "gauge", help: "Dead letters kept for inspection and replay.", labels: [] },
  tdev_bedrock_calls_total: { kind: "counter", help: "Bedrock calls by model (or agent) and outcome.", labels: ["model", "outcome"] },
  tdev_breaker_open: { kind: "gauge", help: "1 while a model's circuit breaker is open (last state reported by any isolate).", labels: ["model"] },
  tdev_evolution_candidates_total: { kind: "gauge", help: "Evolution candidates by current status.", labels: ["status"] },
  tdev_promotions_total: { kind: "gauge", help: "Promotions by mode (auto or approved).", labels: ["mode"] },
  tdev_rollbacks_total: { kind: "gauge", help: "Promotions rolled back.", labels: [] },
} as const satisfies Record<string, SeriesDef>;

export type MetricName = keyof typeof SERIES;
export type Labels = Record<string, string>;

/** One series' value. Histograms keep per-bucket (not cumulative) counts, one more than the bounds (+Inf). */
export interface SeriesState {
  name: MetricName;
  labels: Labels;
  value: number;
  buckets?: number[];
  sum?: number;
  /** Gauges: when the value was set, so the latest report wins when batches merge. */
  at?: number;
}

/** Series keyed by name and labels; what isolates send and the aggregator keeps. */
export type MetricsBatch = Record<string, SeriesState>;

const isMetricName = (name: string): name is MetricName => Object.hasOwn(SERIES, name);

/** Only the labels the series declares, in its order, so keys are stable and cardinality bounded by design. */
function labelsOf(name: MetricName, labels: Labels): Labels {
  const out: Labels = {};
  for (const key of SERIES[name].labels) out[key] = String(labels[key] ?? "").slice(0, 200);
  return out;
}

export const seriesKey = (name: MetricName, labels: Labels) => `${name}${JSON.stringify(labelsOf(name, labels))}`;

function entry(batch: MetricsBatch, name: MetricName, labels: Labels): SeriesState {
  const key = seriesKey(name, labels);
  batch[key] ??= { name, labels: labelsOf(name, labels), value: 0 };
  return batch[key];
}

export function addCount(batch: MetricsBatch, name: MetricName, labels: Labels = {}, n = 1): void {
  entry(batch, name, labels).value += n;
}

export function addObservation(batch: MetricsBatch, name: MetricName, labels: Labels, value: number): void {
  const bounds: readonly number[] = (SERIES[name] as SeriesDef).buckets ?? [];
  const s = entry(batch, name, labels);
  s.buckets ??= new Array(bounds.length + 1).fill(0);
  const i = bounds.findIndex((b) => value <= b);
  s.buckets[i === -1 ? bounds.length : i]! += 1;
  s.sum = (s.sum ?? 0) + value;
  s.value += 1;
}

export function setGauge(batch: MetricsBatch, name: MetricName, labels: Labels, value: number, at: number): void {
  const s = entry(batch, name, labels);
  if (s.at === undefined || at >= s.at) Object.assign(s, { value, at });
}

/** Adds `from` into `into` (counters and histograms add; gauges keep the later report); answers the keys changed. */
export function mergeInto(into: MetricsBatch, from: MetricsBatch): string[] {
  const changed: string[] = [];
  for (const [key, s] of Object.entries(from)) {
    if (!isMetricName(s.name) || seriesKey(s.name, s.labels) !== key) continue; // nothing arriving is trusted blindly
    const kind = SERIES[s.name].kind;
    into[key] ??= { name: s.name, labels: labelsOf(s.name, s.labels), value: 0 };
    const target = into[key];
    if (kind === "gauge") {
      if (target.at !== undefined && (s.at ?? 0) < target.at) continue;
      target.value = s.value;
      target.at = s.at ?? 0;
    } else {
      target.value += s.value;
      if (kind === "histogram" && s.buckets) {
        target.buckets ??= new Array(s.buckets.length).fill(0);
        s.buckets.forEach((n, i) => {
          target.buckets![i] = (target.buckets![i] ?? 0) + n;
        });
        target.sum = (target.sum ?? 0) + (s.sum ?? 0);
      }
    }
    changed.push(key);
  }
  return changed;
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const labelText = (labels: Labels, extra: Labels = {}) => {
  const all = Object.entries({ ...labels, ...extra });
  return all.length ? `{${all.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}` : "";
};
const num = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN");

/** Prometheus text exposition format 0.0.4: HELP and TYPE once per metric, histograms as cumulative buckets. */
export function renderPrometheus(batch: MetricsBatch): string {
  const lines: string[] = [];
  for (const name of Object.keys(SERIES) as MetricName[]) {
    const def: SeriesDef = SERIES[name];
    const series = Object.values(batch).filter((s) => s.name === name);
    if (def.labels.length === 0 && series.length === 0) series.push({ name, labels: {}, value: 0 });
    lines.push(`# HELP ${name} ${def.help}`, `# TYPE ${name} ${def.kind}`);
    for (const s of series.sort((a, b) => JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)))) {
      if (def.kind !== "histogram") {
        lines.push(`${name}${labelText(s.labels)} ${num(s.value)}`);
        continue;
      }
      const bounds = def.buckets ?? [];
      let cumulative = 0;
      bounds.forEach((b, i) => {
        cumulative += s.buckets?.[i] ?? 0;
        lines.push(`${name}_bucket${labelText(s.labels, { le: String(b) })} ${cumulative}`);
      });
      lines.push(`${name}_bucket${labelText(s.labels, { le: "+Inf" })} ${s.value}`);
      lines.push(`${name}_sum${labelText(s.labels)} ${num(s.sum ?? 0)}`, `${name}_count${labelText(s.labels)} ${s.value}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** The same numbers as JSON: one entry per series; histograms with cumulative `buckets` keyed by upper bound. */
export function metricsJson(batch: MetricsBatch) {
  return Object.values(batch)
    .filter((s) => isMetricName(s.name))
    .sort((a, b) => seriesKey(a.name, a.labels).localeCompare(seriesKey(b.name, b.labels)))
    .map((s) => {
      const def: SeriesDef = SERIES[s.name];
      if (def.kind !== "histogram") return { name: s.name, type: def.kind, labels: s.labels, value: s.value };
      let cumulative = 0;
      const buckets: Record<string, number> = {};
      (def.buckets ?? []).forEach((b, i) => {
        cumulative += s.buckets?.[i] ?? 0;
        buckets[String(b)] = cumulative;
      });
      buckets["+Inf"] = s.value;
      return { name: s.name, type: def.kind, labels: s.labels, count: s.value, sum: s.sum ?? 0, buckets };
    });
}

/** The q-quantile (0..1) of a histogram series by linear interpolation inside its bucket, as Prometheus does. */
export function histogramQuantile(name: MetricName, series: SeriesState[], q: number): number | null {
  const bounds: readonly number[] = (SERIES[name] as SeriesDef).buckets ?? [];
  const counts = new Array(bounds.length + 1).fill(0) as number[];
  for (const s of series)
    s.buckets?.forEach((n, i) => {
      counts[i]! += n;
    });
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (seen + counts[i]! >= rank && counts[i]! > 0) {
      if (i === bounds.length) return bounds[bounds.length - 1] ?? null; // in +Inf: the highest finite bound, as Prometheus answers
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      return lower + (bounds[i]! - lower) * ((rank - seen) / counts[i]!);
    }
    seen += counts[i]!;
  }
  return null;
}
