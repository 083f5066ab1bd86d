// What every dashboard page shares: the API client, the hash route, loading state, the live stream and a chart.
import { html, useEffect, useRef, useState } from "/vendor/preact-htm.js";
import uPlot from "/vendor/uPlot.esm.js";

export const KEY = "tdev.apiKey";
export const token = () => sessionStorage.getItem(KEY);

export async function api(path, init = {}) {
  const headers = { authorization: `Bearer ${token()}`, accept: "application/json", ...(init.body ? { "content-type": "application/json" } : {}), ...(init.headers ?? {}) };
  const res = await fetch(`/api/v1${path}`, { ...init, headers });
  const body = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error(body?.detail ?? `${res.status}`);
  return body;
}

/** The hash route: `#/page?filter=…`; filters live here so a page can be shared and reloaded. */
export function useRoute() {
  const read = () => {
    const [page, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
    return { page: page || "overview", params: new URLSearchParams(query) };
  };
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

export const href = (page, params = {}) => `#/${page}?${new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""))}`;
export const go = (page, params = {}) => (location.hash = href(page, params));

export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null });
  const reload = () =>
    load().then(
      (data) => setState({ data, error: null }),
      (e) => setState({ data: null, error: e.message }),
    );
  useEffect(() => void reload(), deps);
  return { ...state, reload };
}

/** Calls `fn` at most once per `ms` (the last call wins), so a burst of stream frames costs one reload. */
export function useThrottled(fn, ms = 500) {
  const latest = useRef(fn);
  latest.current = fn;
  const timer = useRef(null);
  useEffect(() => () => clearTimeout(timer.current), []);
  return () => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      latest.current();
    }, ms);
  };
}

/**
 * WS /api/v1/stream for `topics` (a browser token first, bound to those topics). `since` replays what the hub
 * still holds. Answers whether the socket is open; every frame goes to `onFrame`.
 */
export function useStream(topics, onFrame, { since } = {}) {
  const [live, setLive] = useState(false);
  const handler = useRef(onFrame);
  handler.current = onFrame;
  const key = (topics ?? []).filter(Boolean).join(",");
  useEffect(() => {
    if (!key) return;
    let ws;
    let closed = false;
    api(`/stream-token?topics=${encodeURIComponent(key)}`, { method: "POST" }).then(
      ({ url }) => {
        if (closed) return;
        ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}${url}${since === undefined ? "" : `&since=${since}`}`);
        ws.onopen = () => setLive(true);
        ws.onclose = () => setLive(false);
        ws.onmessage = (m) => handler.current(JSON.parse(m.data));
      },
      () => setLive(false),
    );
    return () => {
      closed = true;
      ws?.close();
    };
  }, [key]);
  return live;
}

export const LiveBadge = ({ live }) => html`<span class=${live ? "live" : "muted"} id="stream-state">${live ? "● live" : "connecting…"}</span>`;

/** A uPlot line chart; `x` is shared, `series` are `{label, values, stroke}`. */
export function LineChart({ id, x, series, time = false, yRange, width = 640, height = 240 }) {
  const ref = useRef(null);
  useEffect(() => {
    if (!ref.current || x.length === 0) return;
    const chart = new uPlot(
      {
        width,
        height,
        // A single point gets a sensible window (an hour, or a generation) instead of uPlot's auto range of years.
        scales: { x: { time, ...(x.length === 1 ? { range: [x[0] - (time ? 3600 : 1), x[0] + (time ? 3600 : 1)] } : {}) }, ...(yRange ? { y: { range: yRange } } : {}) },
        // Generations are whole numbers: no ticks between them.
        axes: [time ? {} : { label: "generation", incrs: [1, 2, 5, 10, 20, 50, 100] }, {}],
        series: [{ label: time ? "time" : "generation" }, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, points: { show: true } }))],
      },
      [x, ...series.map((s) => s.values)],
      ref.current,
    );
    return () => chart.destroy();
  }, [JSON.stringify([x, series.map((s) => s.values)])]);
  return html`<div id=${id} ref=${ref}></div>`;
}

export const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "");
export const fmtScore = (x) => (typeof x === "number" ? x.toFixed(3) : "–");
export const fmtMs = (ms) => (typeof ms === "number" ? (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`) : "");

/** A trace id as a link to every run of that trace. */
export const TraceLink = ({ id }) => (id ? html`<a class="trace" href=${href("trace", { id })} title=${id}>${id.slice(0, 8)}…</a>` : "");

export const ErrorLine = ({ error }) => (error ? html`<p class="error">${error}</p>` : null);

/** Failures first, then the rest in their given order: what needs a person comes to the top. */
export const failuresFirst = (rows, failed = (r) => r.status === "failed") => [...rows.filter(failed), ...rows.filter((r) => !failed(r))];
