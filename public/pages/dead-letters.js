// Dead letters: filter by reason (in the URL) and replay.
import { html, useState } from "/vendor/preact-htm.js";
import { api, ErrorLine, go, TraceLink, useLoad } from "/lib.js";

const REASONS = ["", "max_retries", "rejected", "malformed", "unknown_key", "tampered", "expired"];

export function DeadLetters({ params }) {
  const reason = params.get("reason") ?? "";
  const list = useLoad(() => api(`/dead-letters?limit=100${reason ? `&reason=${reason}` : ""}`), [reason]);
  const [note, setNote] = useState("");
  const replay = (id) =>
    api(`/dead-letters/${id}/replay`, { method: "POST" }).then(
      () => {
        setNote(`replayed ${id}`);
        list.reload();
      },
      (e) => setNote(e.message),
    );
  return html`<div>
    <select id="reason" value=${reason} onChange=${(e) => go("dead-letters", { reason: e.target.value })}>
      ${REASONS.map((r) => html`<option value=${r}>${r || "any reason"}</option>`)}
    </select> <span id="replay-note">${note}</span>
    <${ErrorLine} error=${list.error} />
    <table id="dead-letters"><tr><th>id</th><th>reason</th><th>target</th><th>attempts</th><th>last error</th><th>replays</th><th>trace</th><th></th></tr>
      ${(list.data?.items ?? []).map(
        (d) => html`<tr data-id=${d.id} class=${d.replayedAt ? "replayed" : "failed"}><td>${d.id}</td><td>${d.reason}</td><td>${d.target ?? ""}</td><td>${d.attempts}</td>
        <td class="clip" title=${d.lastError ?? ""}>${d.lastError ?? ""}</td><td>${d.replayCount}</td><td><${TraceLink} id=${d.traceId} /></td>
        <td><button class="replay" onClick=${() => replay(d.id)}>replay</button></td></tr>`,
      )}
    </table></div>`;
}
