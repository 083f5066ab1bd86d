// Evolution runs: the list (filters in the URL, failures first), and one run's score per generation,
// candidates with operator, kept reason and gate verdict, and the lineage tree. Live over the `evolution` topic.
import { html } from "/vendor/preact-htm.js";
import { api, ErrorLine, failuresFirst, fmtScore, fmtTime, go, href, LineChart, LiveBadge, TraceLink, useLoad, useStream, useThrottled } from "/lib.js";

const STATUSES = ["", "queued", "running", "completed", "failed"];

function RunList({ agent, status }) {
  const query = new URLSearchParams(Object.entries({ limit: "100", agent, status }).filter(([, v]) => v));
  const list = useLoad(() => api(`/evolution/runs?${query}`), [agent, status]);
  const reload = useThrottled(list.reload);
  const live = useStream(["evolution"], (f) => f.type?.startsWith("evolution.") && reload());
  return html`<div>
    <input id="evolution-agent" placeholder="agent name" value=${agent} onChange=${(e) => go("evolution", { agent: e.target.value, status })} />
    <select id="evolution-status" value=${status} onChange=${(e) => go("evolution", { agent, status: e.target.value })}>
      ${STATUSES.map((s) => html`<option value=${s}>${s || "any status"}</option>`)}
    </select> <${LiveBadge} live=${live} />
    <${ErrorLine} error=${list.error} />
    <table id="evolution-runs"><tr><th>run</th><th>agent</th><th>status</th><th>generation</th><th>trigger</th><th>evaluations</th><th>started</th><th>outcome</th><th>trace</th></tr>
      ${failuresFirst(list.data?.items ?? []).map(
        (r) => html`<tr class=${r.status} data-run=${r.id}>
        <td><a href=${href("evolution", { run: r.id })}>${r.id.slice(0, 12)}…</a></td><td>${r.agentId}</td><td>${r.status}</td><td>${r.generation} / ${r.generations}</td><td>${r.trigger}</td>
        <td>${r.budget.evaluationsUsed} / ${r.budget.maxEvaluations}</td><td>${fmtTime(r.createdAt)}</td><td class="clip">${r.error ?? outcomeText(r.outcome)}</td><td><${TraceLink} id=${r.traceId} /></td></tr>`,
      )}
    </table></div>`;
}

const outcomeText = (o) => (o ? `${o.decision ?? ""}${o.promoted ? ` → ${o.promoted}` : ""}: ${o.detail}` : "");

/** Candidates as a forest: each under its parents in this run (a merge appears under each parent), roots first. */
function Lineage({ candidates }) {
  const byId = new Map(candidates.map((c) => [c.id, c]));
  const children = new Map();
  for (const c of candidates) for (const p of c.parents) if (byId.has(p)) children.set(p, [...(children.get(p) ?? []), c]);
  const roots = candidates.filter((c) => !c.parents.some((p) => byId.has(p)));
  const node = (c, seen) => html`<li class=${c.kept ? "kept" : c.status === "dropped" ? "dropped" : ""}>
    <span title=${c.reason ?? ""}>${c.id.slice(-8)} <b>${c.operator}</b> g${c.generation} ${fmtScore(c.trainScore)}${c.kept ? " ✓" : ""}${c.version ? ` → v${c.version}` : ""}</span>
    ${seen.has(c.id) ? "" : (children.get(c.id) ?? []).length > 0 && html`<ul>${children.get(c.id).map((k) => node(k, new Set([...seen, c.id])))}</ul>`}
  </li>`;
  return html`<ul class="lineage" id="lineage">${roots.map((c) => node(c, new Set()))}</ul>`;
}

const gateFailed = (gate) => gate && gate.decision !== "pass";
const verdict = (gate) => (gate ? html`<b class=${gateFailed(gate) ? "bad" : "ok"}>${gate.decision}</b> ${(gate.reasons ?? []).join("; ")}` : "");

const show = (v) => (typeof v === "string" ? v : JSON.stringify(v, null, 1));

/** A child against its parent: changed genes one per row; a changed prompt or code side by side. */
function CandidateDiff({ run, id }) {
  const diff = useLoad(() => api(`/evolution/runs/${run}/candidates/${id}`), [run, id]);
  if (diff.error) return html`<p class="error">${diff.error}</p>`;
  const d = diff.data;
  if (!d) return html`<p>Loading…</p>`;
  const long = (c) => typeof c.parent === "string" && typeof c.child === "string" && (c.parent.includes("\n") || c.child.includes("\n") || c.child.length > 80);
  return html`<div id="candidate-diff" class="panel">
    <h3>${d.id} <small>${d.operator}</small> <a href=${href("evolution", { run })}>close</a></h3>
    ${
      d.parent === null
        ? html`<p>A seed${d.sourceVersion ? ` from version ${d.sourceVersion}` : ""}: nothing to compare with.</p>`
        : html`<p>against ${d.parent.id}${d.parents.length > 1 ? ` (first of ${d.parents.length} parents)` : ""}: ${d.changes.length} change${d.changes.length === 1 ? "" : "s"}</p>
        <table id="changes"><tr><th>field</th><th>parent</th><th>child</th></tr>
          ${d.changes.map((c) =>
            long(c)
              ? html`<tr><td>${c.field}</td><td><pre>${c.parent}</pre></td><td><pre>${c.child}</pre></td></tr>`
              : html`<tr><td>${c.field}</td><td>${show(c.parent)}</td><td><b>${show(c.child)}</b></td></tr>`,
          )}
        </table>`
    }
  </div>`;
}

function RunView({ id, candidate }) {
  const run = useLoad(() => api(`/evolution/runs/${id}`), [id]);
  const reload = useThrottled(run.reload);
  const live = useStream(["evolution"], (f) => f.data?.runId === id && reload());
  if (run.error) return html`<p class="error">${run.error}</p>`;
  const r = run.data;
  if (!r) return html`<p>Loading…</p>`;
  const g = r.generationStats;
  const candidates = failuresFirst(r.candidates, (c) => gateFailed(c.gate));
  return html`<div id="evolution-run">
    <p><a href=${href("evolution", {})}>← all runs</a> <${LiveBadge} live=${live} /></p>
    <h2>Run ${r.id} <span class=${r.status}>${r.status}</span></h2>
    <p>agent ${r.agentId} · base ${r.baseVersion} · generation ${r.generation}/${r.generations} · ${r.budget.evaluationsUsed}/${r.budget.maxEvaluations} case runs
      (${r.screening.evaluationsSaved} saved by screening) · seed ${r.seed} · trace <${TraceLink} id=${r.traceId} /></p>
    ${r.error && html`<p class="error">${r.error}</p>`}
    <h3>Score per generation</h3>
    ${
      g.length
        ? html`<${LineChart} id="generation-chart" yRange=${[0, 1]} x=${g.map((s) => s.generation)} series=${[
            { label: "best", stroke: "#1a7f37", values: g.map((s) => s.best) },
            { label: "median", stroke: "#0b5cad", values: g.map((s) => s.median) },
            { label: "worst", stroke: "#b3261e", values: g.map((s) => s.worst) },
          ]} />`
        : html`<p id="generation-chart-empty">No generation completed yet.</p>`
    }
    <h3>Candidates</h3>
    ${candidate && html`<${CandidateDiff} run=${id} id=${candidate} />`}
    <table id="candidates"><tr><th>candidate</th><th>gen</th><th>operator</th><th>parents</th><th>status</th><th>train</th><th>held-out</th><th>kept</th><th>reason</th><th>gate</th><th>version</th></tr>
      ${candidates.map(
        (
          c,
        ) => html`<tr data-candidate=${c.id} class=${c.status}><td title=${c.id}><a href=${href("evolution", { run: id, candidate: c.id })}>${c.id.slice(-8)}</a></td><td>${c.generation}</td><td>${c.operator}</td><td>${c.parents.map((p) => p.slice(-8)).join(", ")}</td>
        <td>${c.status}</td><td>${fmtScore(c.trainScore)}</td><td>${fmtScore(c.heldOutScore)}</td><td>${c.kept === null ? "" : c.kept ? "yes" : "no"}</td>
        <td class="clip" title=${c.reason ?? ""}>${c.reason ?? ""}</td><td>${verdict(c.gate)}</td><td>${c.version ?? ""}</td></tr>`,
      )}
    </table>
    <h3>Lineage</h3>
    <${Lineage} candidates=${r.candidates} />
  </div>`;
}

export function Evolution({ params }) {
  const id = params.get("run");
  return id ? html`<${RunView} id=${id} candidate=${params.get("candidate")} />` : html`<${RunList} agent=${params.get("agent") ?? ""} status=${params.get("status") ?? ""} />`;
}
