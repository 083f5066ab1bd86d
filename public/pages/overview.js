// Overview: throughput, error rate, latency, runs, dead letters, open breakers and pending approvals, from /metrics.
import { html } from "/vendor/preact-htm.js";
import { api, href, useLoad } from "/lib.js";

export function Overview() {
  const { data, error } = useLoad(() => api("/metrics"), []);
  const approvals = useLoad(() => api("/evolution/approvals?status=pending&limit=100"), []);
  if (error) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p>Loading…</p>`;
  const sum = (name) => data.series.filter((s) => s.name === name).reduce((t, s) => t + (s.value ?? 0), 0);
  const open = data.series.filter((s) => s.name === "tdev_breaker_open" && s.value > 0).map((s) => s.labels.model);
  const pct = (x) => (x === null ? "–" : `${(x * 100).toFixed(1)}%`);
  const ms = (x) => (x === null ? "–" : `${(x * 1000).toFixed(0)} ms`);
  const pending = approvals.data?.items.length ?? 0;
  return html`<div class="cards" id="overview">
    <div class="card">requests<b>${data.summary.requests}</b></div>
    <div class="card">error rate<b class=${data.summary.errorRate ? "bad" : ""}>${pct(data.summary.errorRate)}</b></div>
    <div class="card">p50 / p95<b>${ms(data.summary.p50Seconds)} / ${ms(data.summary.p95Seconds)}</b></div>
    <div class="card">runs<b>${sum("tdev_runs_total")}</b></div>
    <div class="card"><a href=${href("dead-letters")}>dead letters</a><b class=${sum("tdev_dead_letters") ? "bad" : ""}>${sum("tdev_dead_letters")}</b></div>
    <div class="card">open breakers<b class=${open.length ? "bad" : ""}>${open.length ? open.join(", ") : 0}</b></div>
    <div class="card"><a href=${href("approvals")}>pending approvals</a><b class=${pending ? "warn" : ""}>${approvals.data ? `${pending}${approvals.data.nextCursor ? "+" : ""}` : "–"}</b></div>
  </div>`;
}
