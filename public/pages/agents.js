// Agents: search, and an agent's score history chart.
import { html } from "/vendor/preact-htm.js";
import { api, ErrorLine, go, href, LineChart, useLoad } from "/lib.js";

function ScoreChart({ scores }) {
  const points = [...scores].filter((s) => typeof s.score === "number").reverse();
  if (!points.length) return html`<p id="score-chart-empty">No scores yet.</p>`;
  return html`<${LineChart} id="score-chart" time=${true} yRange=${[0, 1]} x=${points.map((s) => Date.parse(s.at ?? s.createdAt) / 1000)} series=${[{ label: "score", stroke: "#0b5cad", values: points.map((s) => s.score) }]} />`;
}

export function Agents({ params }) {
  const q = params.get("q") ?? "";
  const selected = params.get("agent");
  const list = useLoad(() => api("/agents?limit=100"), []);
  const scores = useLoad(() => (selected ? api(`/agents/${selected}/scores?limit=100`) : Promise.resolve(null)), [selected]);
  const items = (list.data?.items ?? []).filter((a) => a.name.includes(q));
  return html`<div>
    <input id="agent-search" placeholder="search agents" value=${q} onInput=${(e) => go("agents", { q: e.target.value, agent: selected })} />
    <${ErrorLine} error=${list.error} />
    <table id="agents"><tr><th>name</th><th>kind</th><th>live</th><th></th></tr>
      ${items.map((a) => html`<tr><td><a href=${href("agents", { q, agent: a.id })}>${a.name}</a></td><td>${a.kind ?? ""}</td><td>${a.channels?.live ?? a.latestVersion ?? ""}</td>
        <td><a href=${href("evolution", { agent: a.name })}>evolution</a> · <a href=${href("aws", { agent: a.id })}>AWS</a></td></tr>`)}
    </table>
    ${selected && html`<h2>Score history</h2>${scores.error ? html`<p class="error">${scores.error}</p>` : scores.data && html`<${ScoreChart} scores=${scores.data.items} />`}`}
  </div>`;
}
