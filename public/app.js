// The dashboard: Preact + htm (public/vendor, copied from npm), one page per hash route, filters in the URL.
import { html, render, useEffect, useState } from "/vendor/preact-htm.js";
import uPlot from "/vendor/uPlot.esm.js";

const KEY = "tdev.apiKey";
const token = () => sessionStorage.getItem(KEY);

async function api(path, init = {}) {
  const res = await fetch(`/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${token()}`, accept: "application/json", ...(init.headers ?? {}) } });
  const body = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error(body?.detail ?? `${res.status}`);
  return body;
}

/** The hash route: `#/page?filter=…`; filters live here so a page can be shared and reloaded. */
function useRoute() {
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
const go = (page, params = {}) => (location.hash = `#/${page}?${new URLSearchParams(Object.entries(params).filter(([, v]) => v))}`);

function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null });
  const reload = () => load().then((data) => setState({ data, error: null }), (e) => setState({ data: null, error: e.message }));
  useEffect(() => void reload(), deps);
  return { ...state, reload };
}

function Login({ onKey }) {
  const [value, setValue] = useState("");
  const submit = (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, value.trim());
    onKey(value.trim());
  };
  return html`<section><h1>T-Developer Edge</h1><form onSubmit=${submit}>
    <label>API key <input id="api-key" type="password" value=${value} onInput=${(e) => setValue(e.target.value)} /></label>
    <button id="sign-in" type="submit">Sign in</button></form></section>`;
}

function Overview() {
  const { data, error } = useLoad(() => api("/metrics"), []);
  if (error) return html`<p class="error">${error}</p>`;
  if (!data) return html`<p>Loading…</p>`;
  const sum = (name) => data.series.filter((s) => s.name === name).reduce((t, s) => t + (s.value ?? 0), 0);
  const open = data.series.filter((s) => s.name === "tdev_breaker_open" && s.value > 0).map((s) => s.labels.model);
  const pct = (x) => (x === null ? "–" : `${(x * 100).toFixed(1)}%`);
  const ms = (x) => (x === null ? "–" : `${(x * 1000).toFixed(0)} ms`);
  return html`<div class="cards" id="overview">
    <div class="card">requests<b>${data.summary.requests}</b></div>
    <div class="card">error rate<b class=${data.summary.errorRate ? "bad" : ""}>${pct(data.summary.errorRate)}</b></div>
    <div class="card">p50 / p95<b>${ms(data.summary.p50Seconds)} / ${ms(data.summary.p95Seconds)}</b></div>
    <div class="card">runs<b>${sum("tdev_runs_total")}</b></div>
    <div class="card">dead letters<b class=${sum("tdev_dead_letters") ? "bad" : ""}>${sum("tdev_dead_letters")}</b></div>
    <div class="card">open breakers<b class=${open.length ? "bad" : ""}>${open.length ? open.join(", ") : 0}</b></div>
  </div>`;
}

function ScoreChart({ scores }) {
  const points = [...scores].filter((s) => typeof s.score === "number").reverse();
  useEffect(() => {
    const el = document.getElementById("score-chart");
    if (!el || points.length === 0) return;
    const chart = new uPlot(
      { width: 600, height: 220, series: [{}, { label: "score", stroke: "#0b5cad" }], scales: { x: { time: true }, y: { range: [0, 1] } } },
      [points.map((s) => Date.parse(s.at ?? s.createdAt) / 1000), points.map((s) => s.score)],
      el,
    );
    return () => chart.destroy();
  }, [scores]);
  return points.length ? html`<div id="score-chart"></div>` : html`<p id="score-chart-empty">No scores yet.</p>`;
}

function Agents({ params }) {
  const q = params.get("q") ?? "";
  const selected = params.get("agent");
  const list = useLoad(() => api("/agents?limit=100"), []);
  const scores = useLoad(() => (selected ? api(`/agents/${selected}/scores?limit=100`) : Promise.resolve(null)), [selected]);
  const items = (list.data?.items ?? []).filter((a) => a.name.includes(q));
  return html`<div>
    <input id="agent-search" placeholder="search agents" value=${q} onInput=${(e) => go("agents", { q: e.target.value, agent: selected })} />
    ${list.error && html`<p class="error">${list.error}</p>`}
    <table id="agents"><tr><th>name</th><th>kind</th><th>live</th></tr>
      ${items.map((a) => html`<tr><td><a href=${`#/agents?q=${encodeURIComponent(q)}&agent=${a.id}`}>${a.name}</a></td><td>${a.kind ?? ""}</td><td>${a.channels?.live ?? a.latestVersion ?? ""}</td></tr>`)}
    </table>
    ${selected && html`<h2>Score history</h2>${scores.error ? html`<p class="error">${scores.error}</p>` : scores.data && html`<${ScoreChart} scores=${scores.data.items} />`}`}
  </div>`;
}

/** A squad's live task table, fed by WS /api/v1/stream (a browser token for this squad's topic). */
function Squads({ params }) {
  const id = params.get("id");
  const list = useLoad(() => api("/squads?limit=100"), []);
  const [tasks, setTasks] = useState({});
  const [live, setLive] = useState(false);
  useEffect(() => {
    if (!id) return;
    let ws;
    setTasks({});
    api(`/stream-token?topics=${encodeURIComponent(`squad:${id}`)}`, { method: "POST" }).then(({ url }) => {
      ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}${url}&since=0`);
      ws.onopen = () => setLive(true);
      ws.onclose = () => setLive(false);
      ws.onmessage = (m) => {
        const f = JSON.parse(m.data);
        if (!f.type?.startsWith("task.") || !f.data?.taskId) return;
        setTasks((t) => ({ ...t, [f.data.taskId]: { ...t[f.data.taskId], id: f.data.taskId, status: f.type.slice(5), priority: f.data.priority ?? t[f.data.taskId]?.priority, seq: f.seq } }));
      };
    });
    return () => ws?.close();
  }, [id]);
  const rank = (s) => (s === "failed" ? 0 : s === "started" || s === "retried" ? 1 : s === "queued" ? 2 : 3);
  const rows = Object.values(tasks).sort((a, b) => rank(a.status) - rank(b.status) || (b.priority ?? 0) - (a.priority ?? 0) || b.seq - a.seq);
  return html`<div>
    <select id="squad-select" value=${id ?? ""} onChange=${(e) => go("squads", { id: e.target.value })}>
      <option value="">choose a squad</option>
      ${(list.data?.items ?? []).map((s) => html`<option value=${s.id}>${s.name}</option>`)}
    </select>
    ${id && html`<span class=${live ? "live" : ""} id="stream-state">${live ? " live" : " connecting…"}</span>`}
    <table id="tasks"><tr><th>task</th><th>status</th><th>priority</th></tr>
      ${rows.map((t) => html`<tr class=${t.status} data-task=${t.id}><td>${t.id}</td><td>${t.status}</td><td>${t.priority ?? ""}</td></tr>`)}
    </table></div>`;
}

function DeadLetters({ params }) {
  const reason = params.get("reason") ?? "";
  const list = useLoad(() => api(`/dead-letters?limit=100${reason ? `&reason=${reason}` : ""}`), [reason]);
  const [note, setNote] = useState("");
  const replay = (id) => api(`/dead-letters/${id}/replay`, { method: "POST" }).then(() => (setNote(`replayed ${id}`), list.reload()), (e) => setNote(e.message));
  return html`<div>
    <select id="reason" value=${reason} onChange=${(e) => go("dead-letters", { reason: e.target.value })}>
      ${["", "max_retries", "rejected", "malformed", "unknown_key", "tampered", "expired"].map((r) => html`<option value=${r}>${r || "any reason"}</option>`)}
    </select> <span id="replay-note">${note}</span>
    ${list.error && html`<p class="error">${list.error}</p>`}
    <table id="dead-letters"><tr><th>id</th><th>reason</th><th>target</th><th>attempts</th><th></th></tr>
      ${(list.data?.items ?? []).map((d) => html`<tr data-id=${d.id}><td>${d.id}</td><td>${d.reason}</td><td>${d.target ?? ""}</td><td>${d.attempts}</td><td><button onClick=${() => replay(d.id)}>replay</button></td></tr>`)}
    </table></div>`;
}

const PAGES = { overview: Overview, agents: Agents, squads: Squads, "dead-letters": DeadLetters };

function App() {
  const [key, setKey] = useState(token());
  const { page, params } = useRoute();
  if (!key) return html`<${Login} onKey=${setKey} />`;
  const Page = PAGES[page] ?? Overview;
  return html`<header>${Object.keys(PAGES).map((p) => html`<a href=${`#/${p}`} class=${p === page ? "active" : ""}>${p}</a>`)}
      <a href="/api/v1/docs">API</a></header>
    <section><${Page} params=${params} /></section>`;
}

const root = document.getElementById("app");
root.textContent = ""; // the "Loading…" shown before this module ran
render(html`<${App} />`, root);
