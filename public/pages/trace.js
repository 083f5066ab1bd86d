// A trace: every agent run one request (or message, task, workflow step, evolution run) caused.
import { html, useState } from "/vendor/preact-htm.js";
import { api, ErrorLine, fmtMs, fmtTime, go, href, useLoad } from "/lib.js";

const TRACE = /^[0-9a-f]{32}$/;

export function Trace({ params }) {
  const id = params.get("id") ?? "";
  const [draft, setDraft] = useState(id);
  const runs = useLoad(() => (TRACE.test(id) ? api(`/runs?traceId=${id}&limit=100`) : Promise.resolve(null)), [id]);
  const evolution = useLoad(() => (TRACE.test(id) ? api(`/evolution/runs?traceId=${id}&limit=100`) : Promise.resolve(null)), [id]);
  const items = [...(runs.data?.items ?? [])].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  return html`<div>
    <form onSubmit=${(e) => {
      e.preventDefault();
      go("trace", { id: draft.trim().toLowerCase() });
    }}>
      <input id="trace-id" size="36" placeholder="trace id (32 hex digits)" value=${draft} onInput=${(e) => setDraft(e.target.value)} /> <button type="submit">show</button>
    </form>
    ${id && !TRACE.test(id) && html`<p class="error">A trace id is 32 lowercase hex digits.</p>`}
    <${ErrorLine} error=${runs.error} />
    ${
      evolution.data?.items.length > 0 &&
      html`<p id="trace-evolution">Evolution runs started in this trace:
      ${evolution.data.items.map((r) => html` <a href=${href("evolution", { run: r.id })}>${r.id.slice(0, 12)}… (${r.status})</a>`)}</p>`
    }
    ${
      runs.data &&
      html`<p>${items.length}${runs.data.nextCursor ? "+" : ""} runs in trace <code>${id}</code>, oldest first.</p>
      <table id="trace-runs"><tr><th>started</th><th>agent</th><th>version</th><th>source</th><th>status</th><th>duration</th><th>error</th></tr>
        ${items.map((r) => html`<tr class=${r.status}><td>${fmtTime(r.startedAt)}</td><td>${r.agent}</td><td>${r.version ?? ""}</td><td>${r.source}</td><td>${r.status}</td><td>${fmtMs(r.durationMs)}</td><td>${r.error ? `${r.error.code}: ${r.error.detail}` : ""}</td></tr>`)}
      </table>`
    }
  </div>`;
}
