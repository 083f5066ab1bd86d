// The dashboard: Preact + htm and uPlot (public/vendor, copied from npm), one page per hash route, filters in the URL.
import { html, render, useState } from "/vendor/preact-htm.js";
import { KEY, token, useRoute } from "/lib.js";
import { Agents } from "/pages/agents.js";
import { Approvals } from "/pages/approvals.js";
import { Aws } from "/pages/aws.js";
import { DeadLetters } from "/pages/dead-letters.js";
import { Evolution } from "/pages/evolution.js";
import { Overview } from "/pages/overview.js";
import { Squads } from "/pages/squads.js";
import { Trace } from "/pages/trace.js";
import { Workflows } from "/pages/workflows.js";

function Login({ onKey }) {
  const [value, setValue] = useState("");
  const submit = (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, value.trim());
    onKey(value.trim());
  };
  return html`<section><h1>T-Developer Edge</h1><form onSubmit=${submit}>
    <label>API key <input id="api-key" type="password" value=${value} onInput=${(e) => setValue(e.target.value)} /></label>
    <button id="sign-in" type="submit">Sign in</button></form></section>`;
}

const PAGES = {
  overview: Overview,
  agents: Agents,
  squads: Squads,
  workflows: Workflows,
  evolution: Evolution,
  approvals: Approvals,
  "dead-letters": DeadLetters,
  aws: Aws,
  trace: Trace,
};

function App() {
  const [key, setKey] = useState(token());
  const { page, params } = useRoute();
  if (!key) return html`<${Login} onKey=${setKey} />`;
  const Page = PAGES[page] ?? Overview;
  return html`<header>${Object.keys(PAGES).map((p) => html`<a href=${`#/${p}`} class=${p === page ? "active" : ""}>${p}</a>`)}
      <a href="/api/v1/docs">API</a></header>
    <section><${Page} params=${params} /></section>`;
}

const root = document.getElementById("app");
root.textContent = ""; // the "Loading…" shown before this module ran
render(html`<${App} />`, root);
