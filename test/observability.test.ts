import { env } from "cloudflare:workers";
import parsePrometheus from "parse-prometheus-text-format";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { logLine } from "../src/observability/log";
import { addCount, addObservation, histogramQuantile, mergeInto, renderPrometheus, setGauge, type MetricsBatch } from "../src/observability/metrics";
import { formatTraceparent, parseTraceparent } from "../src/observability/trace";
import { api, codeSpec } from "./helpers";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = `00-${TRACE}-00f067aa0ba902b7-01`;

type Family = { name: string; type: string; metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string }[] };
const scrapeText = async () => {
  const res = await api("GET", "/api/v1/metrics");
  expect(res.status, res.text).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
  return res.text;
};
const scrape = async () => parsePrometheus(await scrapeText()) as Family[];
const value = (families: Family[], name: string, labels: Record<string, string> = {}) =>
  Number(families.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value ?? 0);

describe("traceparent (W3C Trace Context)", () => {
  it("parses valid headers and refuses malformed, all-zero and version ff", () => {
    expect(parseTraceparent(PARENT)).toEqual({ traceId: TRACE, spanId: "00f067aa0ba902b7", sampled: true });
    expect(parseTraceparent(`01-${TRACE}-00f067aa0ba902b7-00-extra`)).toMatchObject({ traceId: TRACE, sampled: false });
    for (const bad of [
      undefined,
      "",
      "00-xyz-00f067aa0ba902b7-01",
      `00-${"0".repeat(32)}-00f067aa0ba902b7-01`,
      `00-${TRACE}-${"0".repeat(16)}-01`,
      `ff-${TRACE}-00f067aa0ba902b7-01`,
      `00-${TRACE}-00f067aa0ba902b7-01-extra`,
      PARENT.toUpperCase(),
    ])
      expect(parseTraceparent(bad)).toBeNull();
    expect(formatTraceparent({ traceId: TRACE, spanId: "00f067aa0ba902b7", sampled: false })).toBe(`00-${TRACE}-00f067aa0ba902b7-00`);
  });

  it("answers every request with traceparent: the caller's trace and a new span, or a new trace", async () => {
    const joined = await api("GET", "/api/v1/health", { headers: { traceparent: PARENT } });
    const answer = parseTraceparent(joined.headers.get("traceparent"));
    expect(answer?.traceId).toBe(TRACE);
    expect(answer?.spanId).not.toBe("00f067aa0ba902b7");
    const fresh = parseTraceparent((await api("GET", "/api/v1/nowhere", { headers: { traceparent: "garbage" } })).headers.get("traceparent"));
    expect(fresh?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(fresh?.traceId).not.toBe(TRACE);
  });

  it("logs one JSON object per line with traceId", () => {
    const line = JSON.parse(logLine("warn", "thing.happened", { error: new Error("boom"), n: 1 }, TRACE));
    expect(line).toEqual({ level: "warn", at: "thing.happened", traceId: TRACE, error: "boom", n: 1 });
    expect(JSON.parse(logLine("info", "x", {}, undefined)).traceId).toBeNull();
  });
});

describe("runs carry the trace id", () => {
  beforeAll(async () => {
    expect((await api("POST", "/api/v1/agents", { body: codeSpec("traced") })).status).toBe(201);
  });

  it("a traceparent sent to POST /execute comes back on the run record, and ?traceId= finds it", async () => {
    const res = await api("POST", "/api/v1/execute", { body: { agent: "traced", input: { a: 1 } }, headers: { traceparent: PARENT } });
    expect(res.status, res.text).toBe(200);
    expect(parseTraceparent(res.headers.get("traceparent"))?.traceId).toBe(TRACE);
    const run = await api("GET", `/api/v1/runs/${res.json.runId}`);
    expect(run.json.traceId).toBe(TRACE);
    await api("POST", "/api/v1/execute", { body: { agent: "traced", input: { a: 2 } } });
    const found = await api("GET", `/api/v1/runs?traceId=${TRACE}`);
    expect(found.json.items.map((r: { id: string }) => r.id)).toEqual([res.json.runId]);
    expect((await api("GET", "/api/v1/runs?traceId=NOT-A-TRACE")).status).toBe(422);
  });
});

describe("metric arithmetic", () => {
  it("adds counters and histograms, keeps the later gauge, and renders cumulative buckets", () => {
    const a: MetricsBatch = {};
    const b: MetricsBatch = {};
    addCount(a, "tdev_tasks_total", { status: "completed" }, 2);
    addCount(b, "tdev_tasks_total", { status: "completed" }, 3);
    addObservation(a, "tdev_run_duration_seconds", { kind: "code" }, 0.02);
    addObservation(b, "tdev_run_duration_seconds", { kind: "code" }, 100);
    setGauge(a, "tdev_breaker_open", { model: "m" }, 1, 20);
    setGauge(b, "tdev_breaker_open", { model: "m" }, 0, 10);
    const all: MetricsBatch = {};
    mergeInto(all, a);
    mergeInto(all, b);
    const text = renderPrometheus(all);
    expect(text).toContain('tdev_tasks_total{status="completed"} 5\n');
    expect(text).toContain('tdev_breaker_open{model="m"} 1\n');
    expect(text).toContain('tdev_run_duration_seconds_bucket{kind="code",le="0.05"} 1\n');
    expect(text).toContain('tdev_run_duration_seconds_bucket{kind="code",le="+Inf"} 2\n');
    expect(text).toContain('tdev_run_duration_seconds_sum{kind="code"} 100.02\n');
    expect(histogramQuantile("tdev_run_duration_seconds", Object.values(all), 0.5)).toBeCloseTo(0.05, 5);
  });

  it("ignores series it does not know and labels a series does not declare", () => {
    const all: MetricsBatch = {};
    mergeInto(all, { bogus: { name: "nope" as never, labels: {}, value: 1 } });
    const batch: MetricsBatch = {};
    addCount(batch, "tdev_tasks_total", { status: "completed", secret: "x" });
    mergeInto(all, batch);
    expect(Object.values(all)).toEqual([{ name: "tdev_tasks_total", labels: { status: "completed" }, value: 1 }]);
  });
});

describe("GET /api/v1/metrics", () => {
  it("parses as Prometheus text and its counters move with traffic", async () => {
    // An agent of its own: counts of earlier tests' runs still on their way to the aggregator cannot move this one.
    expect((await api("POST", "/api/v1/agents", { body: codeSpec("metered") })).status).toBe(201);
    const before = await scrape();
    const health = () => value(before, "tdev_http_requests_total", { route: "/api/v1/health", method: "GET", status: "200" });
    const baseRuns = value(before, "tdev_runs_total", { agent: "metered", kind: "code", status: "succeeded" });
    for (let i = 0; i < 3; i++) await api("GET", "/api/v1/health");
    await api("POST", "/api/v1/execute", { body: { agent: "metered", input: 1 } });
    await vi.waitFor(
      async () => {
        const text = await scrapeText();
        const after = parsePrometheus(text) as Family[];
        expect(value(after, "tdev_http_requests_total", { route: "/api/v1/health", method: "GET", status: "200" })).toBeGreaterThanOrEqual(health() + 3);
        expect(value(after, "tdev_runs_total", { agent: "metered", kind: "code", status: "succeeded" })).toBe(baseRuns + 1);
        expect(after.find((f) => f.name === "tdev_http_request_duration_seconds")?.type).toBe("HISTOGRAM");
        // The parser folds histogram labels together, so the per-route count is read from the text itself.
        expect(Number(/^tdev_http_request_duration_seconds_count\{route="\/api\/v1\/health"\} (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(3);
        expect(text).toMatch(/^tdev_run_duration_seconds_count\{kind="code"\} [1-9]/m);
        // Raw paths never become labels: the run is counted under its route template.
        expect(after.find((f) => f.name === "tdev_http_requests_total")?.metrics.some((m) => m.labels?.route === "/api/v1/runs/:id")).toBe(true);
      },
      { timeout: 5_000, interval: 100 },
    );
  });

  it("keeps counters in the aggregator, not in the isolate: a scrape reads what another writer sent", async () => {
    const batch: MetricsBatch = {};
    addCount(batch, "tdev_messages_total", { band: "high", outcome: "acked" }, 7);
    await env.METRICS.getByName("metrics:3").add(batch);
    expect(value(await scrape(), "tdev_messages_total", { band: "high", outcome: "acked" })).toBeGreaterThanOrEqual(7);
  });

  it("answers JSON with Accept: application/json, derived series included", async () => {
    const res = await api("GET", "/api/v1/metrics", { headers: { accept: "application/json" } });
    expect(res.status).toBe(200);
    expect(res.json.series).toContainEqual(expect.objectContaining({ name: "tdev_dead_letters", type: "gauge", value: 0 }));
    expect(res.json.summary.requests).toBeGreaterThan(0);
    expect(res.json.summary.p95Seconds).toBeGreaterThan(0);
  });

  it("needs agents:read", async () => {
    expect((await api("GET", "/api/v1/metrics", { token: null })).status).toBe(401);
    const key = await api("POST", "/api/v1/keys", { body: { name: "writer-only", scopes: ["squads:run"] } });
    expect(key.status, key.text).toBe(201);
    expect((await api("GET", "/api/v1/metrics", { token: key.json.key })).status).toBe(403);
  });
});
