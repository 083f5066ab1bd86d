// AWS deployments: an agent's pushes to Bedrock Agents / AgentCore, each step's attempts and timings, rollback.
import { html, useState } from "/vendor/preact-htm.js";
import { api, ErrorLine, failuresFirst, fmtMs, fmtTime, go, href, LiveBadge, useLoad, useStream, useThrottled } from "/lib.js";

function Deployment({ id }) {
  const d = useLoad(() => api(`/aws-deployments/${id}`), [id]);
  const [message, setMessage] = useState("");
  const rollback = () =>
    api(`/aws-deployments/${id}/rollback`, { method: "POST" }).then(
      () => {
        setMessage("rollback started");
        d.reload();
      },
      (e) => setMessage(e.message),
    );
  if (d.error) return html`<p class="error">${d.error}</p>`;
  if (!d.data) return html`<p>Loading…</p>`;
  const x = d.data;
  return html`<div id="aws-deployment">
    <h2>${x.id} <span class=${x.status}>${x.status}</span></h2>
    <p>version ${x.version} → ${x.target} · AWS ${x.aws.agentId ?? x.aws.runtimeArn ?? "–"} version ${x.aws.version ?? "–"} (was ${x.aws.previousVersion ?? "–"}) · by ${x.createdBy} ${fmtTime(x.createdAt)}
      ${x.rolledBackAt ? ` · rolled back ${fmtTime(x.rolledBackAt)}` : ""}</p>
    ${x.error && html`<p class="error">${x.error.code}: ${x.error.message}</p>`}
    ${x.status === "succeeded" && !x.rolledBackAt && html`<button id="aws-rollback" onClick=${rollback}>roll back</button>`} <span>${message}</span>
    <table id="aws-steps"><tr><th>step</th><th>status</th><th>attempts</th><th>polls</th><th>duration</th><th>error</th></tr>
      ${x.steps.map((s) => html`<tr class=${s.status}><td>${s.name}</td><td>${s.status}</td><td>${s.attempts}</td><td>${s.polls}</td><td>${fmtMs(s.durationMs)}</td><td>${s.error ? `${s.error.code}: ${s.error.message}` : ""}</td></tr>`)}
    </table></div>`;
}

export function Aws({ params }) {
  const agent = params.get("agent") ?? "";
  const selected = params.get("deployment");
  const agents = useLoad(() => api("/agents?limit=100"), []);
  const list = useLoad(() => (agent ? api(`/agents/${encodeURIComponent(agent)}/aws-deployments?limit=100`) : Promise.resolve(null)), [agent]);
  const reload = useThrottled(list.reload);
  const live = useStream(agent ? ["deployments"] : [], (f) => (f.type?.startsWith("aws.") || f.type?.startsWith("deployment.")) && reload());
  return html`<div>
    <select id="aws-agent" value=${agent} onChange=${(e) => go("aws", { agent: e.target.value })}>
      <option value="">choose an agent</option>
      ${(agents.data?.items ?? []).map((a) => html`<option value=${a.id}>${a.name}</option>`)}
    </select> ${agent && html`<${LiveBadge} live=${live} />`}
    <${ErrorLine} error=${list.error} />
    ${
      list.data &&
      html`<table id="aws-deployments"><tr><th>deployment</th><th>version</th><th>target</th><th>status</th><th>started</th><th>finished</th><th>error</th></tr>
      ${failuresFirst(list.data.items).map(
        (d) => html`<tr class=${d.status}><td><a href=${href("aws", { agent, deployment: d.id })}>${d.id}</a></td><td>${d.version}</td><td>${d.target}</td><td>${d.status}</td>
        <td>${fmtTime(d.createdAt)}</td><td>${fmtTime(d.finishedAt)}</td><td>${d.error ? d.error.code : ""}</td></tr>`,
      )}
    </table>${list.data.items.length === 0 && html`<p class="muted">No AWS deployments for this agent.</p>`}`
    }
    ${selected && html`<${Deployment} id=${selected} />`}
  </div>`;
}
