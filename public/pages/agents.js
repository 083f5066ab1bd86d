// Agents: search, and one agent's channels, versions, deployment history, score history chart and recent runs.
import { html } from "/vendor/preact-htm.js";
import { api, ErrorLine, failuresFirst, fmtMs, fmtScore, fmtTime, go, href, LineChart, TraceLink, useLoad } from "/lib.js";

function ScoreChart({ scores }) {
  const points = [...scores].filter((s) => typeof s.score === "number").reverse();
  if (!points.length) return html`<p id="score-chart-empty">No scores yet.</p>`;
  return html`<${LineChart} id="score-chart" time=${true} yRange=${[0, 1]} x=${points.map((s) => Date.parse(s.at ?? s.createdAt) / 1000)} series=${[{ label: "score", stroke: "#0b5cad", values: points.map((s) => s.score) }]} />`;
}

function AgentDetail({ id }) {
  const load = useLoad(async () => {
    const agent = await api(`/agents/${id}`);
    const [versions, deployments, scores, runs] = await Promise.all([
      api(`/agents/${id}/versions?limit=20`),
      api(`/agents/${id}/deployments`),
      api(`/agents/${id}/scores?limit=100`),
      api(`/runs?agent=${encodeURIComponent(agent.name)}&limit=20`),
    ]);
    return { agent, versions: versions.items, deployments: deployments.items, scores: scores.items, runs: runs.items };
  }, [id]);
  if (load.error) return html`<p class="error">${load.error}</p>`;
  const d = load.data;
  if (!d) return html`<p>Loading…</p>`;
  return html`<div id="agent-detail">
    <h2>${d.agent.name} <small>${d.agent.kind}</small></h2>
    <p>${d.agent.description} · channels: ${
      Object.entries(d.agent.channels)
        .map(([c, v]) => `${c} → ${v}`)
        .join(", ") || "none"
    } ·
      <a href=${href("evolution", { agent: d.agent.name })}>evolution runs</a> · <a href=${href("aws", { agent: d.agent.id })}>AWS deployments</a></p>
    <h3>Score history</h3><${ScoreChart} scores=${d.scores} />
    <h3>Recent runs</h3>
    <table id="agent-runs"><tr><th>started</th><th>version</th><th>source</th><th>status</th><th>duration</th><th>error</th><th>trace</th></tr>
      ${failuresFirst(d.runs).map(
        (r) => html`<tr class=${r.status}><td>${fmtTime(r.startedAt)}</td><td>${r.version}</td><td>${r.source}</td><td>${r.status}</td><td>${fmtMs(r.durationMs)}</td>
        <td>${r.error ? `${r.error.code}: ${r.error.detail}` : ""}</td><td><${TraceLink} id=${r.traceId} /></td></tr>`,
      )}
    </table>
    <h3>Versions</h3>
    <table id="agent-versions"><tr><th>version</th><th>score</th><th>operator</th><th>size</th><th>published</th><th>by</th></tr>
      ${d.versions.map((v) => html`<tr><td>${v.version}</td><td>${fmtScore(v.score)}</td><td>${v.operator ?? ""}</td><td>${v.sizeBytes} B</td><td>${fmtTime(v.createdAt)}</td><td>${v.createdBy}</td></tr>`)}
    </table>
    <h3>Deployment history</h3>
    <table id="agent-deployments"><tr><th>when</th><th>channel</th><th>from</th><th>to</th><th>by</th><th>reason</th></tr>
      ${d.deployments.map((x) => html`<tr><td>${fmtTime(x.at)}</td><td>${x.channel}</td><td>${x.fromVersion ?? ""}</td><td>${x.toVersion}</td><td>${x.actor}</td><td>${x.reason ?? ""}</td></tr>`)}
    </table>
  </div>`;
}

export function Agents({ params }) {
  const q = params.get("q") ?? "";
  const selected = params.get("agent");
  const list = useLoad(() => api("/agents?limit=100"), []);
  const items = (list.data?.items ?? []).filter((a) => a.name.includes(q));
  return html`<div>
    <input id="agent-search" placeholder="search agents" value=${q} onInput=${(e) => go("agents", { q: e.target.value, agent: selected })} />
    <${ErrorLine} error=${list.error} />
    <table id="agents"><tr><th>name</th><th>kind</th><th>latest</th><th>capabilities</th></tr>
      ${items.map((a) => html`<tr><td><a href=${href("agents", { q, agent: a.id })}>${a.name}</a></td><td>${a.kind ?? ""}</td><td>${a.latestVersion ?? ""}</td><td>${(a.capabilities ?? []).join(", ")}</td></tr>`)}
    </table>
    ${selected && html`<${AgentDetail} id=${selected} />`}
  </div>`;
}
