/** A self-contained API page: renders /api/v1/openapi.json in the browser and loads nothing from the internet. */
export const docsPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>T-Developer Edge API</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
h1{margin-bottom:0}.op{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.2rem .8rem}
summary{cursor:pointer;font-family:ui-monospace,monospace}.m{display:inline-block;width:4.5rem;font-weight:700}
.get{color:#0a7}.post{color:#06c}.put{color:#b60}.delete{color:#c22}pre{background:#f6f6f6;padding:.6rem;overflow:auto;font-size:13px}
.tag{margin-top:1.6rem;text-transform:capitalize}
</style></head><body>
<h1>T-Developer Edge API</h1><p id="info">Loading <a href="/api/v1/openapi.json">openapi.json</a>…</p><div id="ops"></div>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (ch) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"})[ch]);
fetch("/api/v1/openapi.json").then((r) => r.json()).then((doc) => {
  document.getElementById("info").innerHTML = esc(doc.info.description || "") + " Version " + esc(doc.info.version) +
    ". Authenticate with <code>Authorization: Bearer &lt;key or JWT&gt;</code>. Base URL <code>/api/v1</code>.";
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) {
    (byTag[(op.tags || ["other"])[0]] ||= []).push({ path, method, op });
  }
  const out = [];
  for (const [tag, ops] of Object.entries(byTag)) {
    out.push('<h2 class="tag">' + esc(tag) + "</h2>");
    for (const { path, method, op } of ops) {
      const body = op.requestBody && op.requestBody.content ? Object.values(op.requestBody.content)[0].schema : null;
      out.push('<details class="op"><summary><span class="m ' + method + '">' + method.toUpperCase() + "</span>" + esc(path) +
        " — " + esc(op.summary || "") + "</summary>" +
        (op.parameters && op.parameters.length ? "<p><b>Parameters</b></p><pre>" + esc(JSON.stringify(op.parameters, null, 2)) + "</pre>" : "") +
        (body ? "<p><b>Body</b></p><pre>" + esc(JSON.stringify(body, null, 2)) + "</pre>" : "") +
        "<p><b>Responses</b>: " + Object.entries(op.responses).map(([s, r]) => esc(s) + " " + esc(r.description)).join(" · ") + "</p></details>");
    }
  }
  out.push("<h2>Schemas</h2><pre>" + esc(JSON.stringify((doc.components || {}).schemas || {}, null, 2)) + "</pre>");
  document.getElementById("ops").innerHTML = out.join("");
});
</script></body></html>`;
