// Approvals: evolved versions the gate held for a person; approve (to canary) or reject, with a note.
import { html, useState } from "/vendor/preact-htm.js";
import { api, ErrorLine, fmtTime, go, href, LiveBadge, useLoad, useStream, useThrottled } from "/lib.js";

export function Approvals({ params }) {
  const status = params.get("status") ?? "pending";
  const list = useLoad(() => api(`/evolution/approvals?limit=100${status ? `&status=${status}` : ""}`), [status]);
  const reload = useThrottled(list.reload);
  const live = useStream(["evolution"], (f) => f.type?.startsWith("evolution.") && reload());
  const [notes, setNotes] = useState({});
  const [message, setMessage] = useState("");
  const decide = (a, decision) =>
    api(`/evolution/approvals/${a.id}/${decision}`, { method: "POST", body: JSON.stringify(notes[a.id] ? { note: notes[a.id] } : {}) }).then(
      () => {
        setMessage(`${decision === "approve" ? "approved" : "rejected"} ${a.version}`);
        list.reload();
      },
      (e) => setMessage(e.message),
    );
  return html`<div>
    <select id="approval-status" value=${status} onChange=${(e) => go("approvals", { status: e.target.value })}>
      ${["pending", "approved", "rejected", ""].map((s) => html`<option value=${s}>${s || "any"}</option>`)}
    </select> <${LiveBadge} live=${live} /> <span id="approval-note">${message}</span>
    <${ErrorLine} error=${list.error} />
    <table id="approvals"><tr><th>agent</th><th>version</th><th>run</th><th>why it waits</th><th>requested</th><th>status</th><th></th></tr>
      ${(list.data?.items ?? []).map(
        (a) => html`<tr data-approval=${a.id} class=${a.status}>
        <td>${a.agentId}</td><td>${a.version}</td><td><a href=${href("evolution", { run: a.runId })}>${a.runId.slice(0, 12)}…</a></td><td>${a.reasons.join("; ")}</td><td>${fmtTime(a.createdAt)}</td>
        <td>${a.status}${a.decidedBy ? ` by ${a.decidedBy}` : ""}${a.note ? ` (${a.note})` : ""}</td>
        <td>${
          a.status === "pending" &&
          html`<input placeholder="note" value=${notes[a.id] ?? ""} onInput=${(e) => setNotes({ ...notes, [a.id]: e.target.value })} />
          <button class="approve" onClick=${() => decide(a, "approve")}>approve</button> <button class="reject" onClick=${() => decide(a, "reject")}>reject</button>`
        }</td></tr>`,
      )}
    </table>
    ${list.data && list.data.items.length === 0 && html`<p class="muted">Nothing ${status || "here"}.</p>`}
  </div>`;
}
