// Workflow runs of a squad: the DAG by level with each step's status, a steps table and a timeline. Live over the squad topic.
import { html } from "/vendor/preact-htm.js";
import { api, ErrorLine, failuresFirst, fmtMs, fmtTime, go, href, LiveBadge, TraceLink, useLoad, useStream, useThrottled } from "/lib.js";

/** Steps as bars from the run's start, one row each (SVG: attributes, not inline styles, so the CSP holds). */
function Timeline({ run }) {
  const t0 = Date.parse(run.startedAt);
  const steps = run.steps.filter((s) => s.startedAt);
  const end = Math.max(t0 + 1, ...steps.map((s) => Date.parse(s.finishedAt ?? new Date().toISOString())));
  const W = 640;
  const scale = (t) => ((t - t0) / (end - t0)) * (W - 120);
  return html`<svg id="timeline" class="timeline" width=${W} height=${steps.length * 22 + 8} role="img">
    ${steps.map((s, i) => {
      const from = scale(Date.parse(s.startedAt));
      const to = scale(Date.parse(s.finishedAt ?? new Date().toISOString()));
      return html`<g><text x="0" y=${i * 22 + 16}>${s.id}</text><rect class=${s.status} x=${110 + from} y=${i * 22 + 4} width=${Math.max(2, to - from)} height="16" /></g>`;
    })}
  </svg>`;
}

function RunView({ squad, id }) {
  const run = useLoad(() => api(`/squads/${squad}/runs/${id}`), [squad, id]);
  const reload = useThrottled(run.reload, 300);
  const live = useStream([`squad:${squad}`], (f) => f.data?.runId === id && reload());
  if (run.error) return html`<p class="error">${run.error}</p>`;
  const r = run.data;
  if (!r) return html`<p>Loading…</p>`;
  const byId = new Map(r.steps.map((s) => [s.id, s]));
  return html`<div id="workflow-run">
    <p><a href=${href("workflows", { squad })}>← runs</a> <${LiveBadge} live=${live} /></p>
    <h2>${r.workflow} v${r.version} <span class=${r.status}>${r.status}</span></h2>
    <p>${r.runId} · started ${fmtTime(r.startedAt)} · ${fmtMs(r.durationMs)} · trace <${TraceLink} id=${r.traceId} /></p>
    ${r.error && html`<p class="error">${r.error.code}: ${r.error.detail}</p>`}
    <div class="dag" id="dag">${r.levels.map(
      (level, i) => html`<div class="level"><small>level ${i}</small>
      ${level.map((sid) => html`<div class=${`step ${byId.get(sid)?.status ?? "pending"}`} data-step=${sid}>${sid}<br /><small>${byId.get(sid)?.status ?? "pending"}</small></div>`)}</div>`,
    )}</div>
    <table id="steps"><tr><th>step</th><th>level</th><th>status</th><th>member</th><th>attempts</th><th>duration</th><th>error / reason</th></tr>
      ${failuresFirst(r.steps).map(
        (s) => html`<tr class=${s.status}><td>${s.id}</td><td>${s.level}</td><td>${s.status}</td><td>${s.member ?? ""}</td><td>${s.attempts}</td><td>${fmtMs(s.durationMs)}</td>
        <td>${s.error ? `${s.error.code}: ${s.error.detail}` : (s.reason ?? "")}</td></tr>`,
      )}
    </table>
    <h3>Timeline</h3><${Timeline} run=${r} />
  </div>`;
}

export function Workflows({ params }) {
  const squad = params.get("squad") ?? "";
  const id = params.get("run");
  const squads = useLoad(() => api("/squads?limit=100"), []);
  const list = useLoad(() => (squad && !id ? api(`/squads/${squad}/runs?limit=100`) : Promise.resolve(null)), [squad, id]);
  const reload = useThrottled(list.reload);
  const live = useStream(squad && !id ? [`squad:${squad}`] : [], (f) => f.type?.startsWith("run.") && reload());
  return html`<div>
    <select id="workflow-squad" value=${squad} onChange=${(e) => go("workflows", { squad: e.target.value })}>
      <option value="">choose a squad</option>
      ${(squads.data?.items ?? []).map((s) => html`<option value=${s.id}>${s.name}</option>`)}
    </select> ${squad && !id && html`<${LiveBadge} live=${live} />`}
    <${ErrorLine} error=${list.error} />
    ${
      list.data &&
      html`<table id="workflow-runs"><tr><th>run</th><th>workflow</th><th>status</th><th>started</th><th>duration</th><th>error</th><th>trace</th></tr>
      ${failuresFirst(list.data.items).map(
        (r) => html`<tr class=${r.status}><td><a href=${href("workflows", { squad, run: r.runId })}>${r.runId}</a></td><td>${r.workflow} v${r.version}</td><td>${r.status}</td>
        <td>${fmtTime(r.startedAt)}</td><td>${fmtMs(r.durationMs)}</td><td>${r.error ? r.error.code : ""}</td><td><${TraceLink} id=${r.traceId} /></td></tr>`,
      )}
    </table>`
    }
    ${squad && id && html`<${RunView} squad=${squad} id=${id} />`}
  </div>`;
}
