// Squads: a squad's live task table, fed by WS /api/v1/stream (replayed from the hub, then live).
import { html, useState } from "/vendor/preact-htm.js";
import { api, go, href, LiveBadge, TraceLink, useLoad, useStream } from "/lib.js";

const rank = (s) => (s === "failed" ? 0 : s === "started" || s === "retried" ? 1 : s === "queued" ? 2 : 3);

export function Squads({ params }) {
  const id = params.get("id");
  const list = useLoad(() => api("/squads?limit=100"), []);
  const [tasks, setTasks] = useState({});
  const live = useStream(
    id ? [`squad:${id}`] : [],
    (f) => {
      if (!f.type?.startsWith("task.") || !f.data?.taskId) return;
      setTasks((t) => {
        const prev = t[f.data.taskId] ?? {};
        return {
          ...t,
          [f.data.taskId]: {
            ...prev,
            id: f.data.taskId,
            status: f.type.slice(5),
            priority: f.data.priority ?? prev.priority,
            traceId: f.data.traceId ?? prev.traceId,
            runId: f.data.runId ?? prev.runId,
            seq: f.seq,
          },
        };
      });
    },
    { since: 0 },
  );
  const rows = Object.values(tasks).sort((a, b) => rank(a.status) - rank(b.status) || (b.priority ?? 0) - (a.priority ?? 0) || b.seq - a.seq);
  return html`<div>
    <select id="squad-select" value=${id ?? ""} onChange=${(e) => {
      setTasks({});
      go("squads", { id: e.target.value });
    }}>
      <option value="">choose a squad</option>
      ${(list.data?.items ?? []).map((s) => html`<option value=${s.id}>${s.name}</option>`)}
    </select>
    ${id && html` <${LiveBadge} live=${live} /> · <a href=${href("workflows", { squad: id })}>workflow runs</a>`}
    <table id="tasks"><tr><th>task</th><th>status</th><th>priority</th><th>workflow run</th><th>trace</th></tr>
      ${rows.map(
        (t) => html`<tr class=${t.status} data-task=${t.id}><td>${t.id}</td><td>${t.status}</td><td>${t.priority ?? ""}</td>
        <td>${t.runId ? html`<a href=${href("workflows", { squad: id, run: t.runId })}>${t.runId}</a>` : ""}</td><td><${TraceLink} id=${t.traceId} /></td></tr>`,
      )}
    </table></div>`;
}
