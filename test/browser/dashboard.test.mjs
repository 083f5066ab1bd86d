// The dashboard in a real Chromium (Debian's /usr/bin/chromium, driven by playwright-core) against `wrangler dev`.
// Fails on any console error and on any request to a host other than the server. Screenshots: test/browser/artifacts/.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { ADMIN_KEY, startServer } from "./server.mjs";

const ARTIFACTS = path.join(import.meta.dirname, "artifacts");
const PORT = Number(process.env.BROWSER_TEST_PORT ?? 8795);
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let server, browser, page;
const problems = [];
const call = async (method, p, body) => {
  const res = await fetch(`${server.url}/api/v1${p}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
};
const example = (file) => readFileSync(path.join(import.meta.dirname, "..", "..", "examples", "sentiment", file), "utf8");
const poll = async (read, done, what, timeoutMs = 90_000) => {
  const until = Date.now() + timeoutMs;
  for (;;) {
    // A read that fails or hangs (a loaded machine) is tried again until the deadline; the last error is reported.
    const value = await read().catch((error) => ({ error: String(error) }));
    if (done(value)) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value).slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};
const shot = (name) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startServer(PORT);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: FLAGS });
  page = await browser.newPage();
  const host = new URL(server.url).host;
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => new URL(r.url()).host !== host && !r.url().startsWith("data:") && problems.push(`foreign request: ${r.url()}`));
});

after(async () => {
  await browser?.close();
  // The server's output is kept with the screenshots, for a failure seen only in CI.
  if (server) writeFileSync(path.join(ARTIFACTS, "wrangler-dev.log"), server.log());
  server?.stop();
});

test("enter the key, find an agent and its score chart, watch a squad task arrive live", async () => {
  const code = "export default { async run(input) { return input; } };";
  const agent = await call("POST", "/agents", { name: "browser-echo", version: "1.0.0", kind: "code", description: "echo", capabilities: ["echo"], code });
  await call("POST", "/suites", { name: "echo-suite", agent: "browser-echo", cases: [{ id: "a", input: "x", checks: [{ type: "equals", path: "$", value: "x" }] }] });
  await call("POST", "/agents/browser-echo/versions/1.0.0/evaluate", { suite: "echo-suite" });
  const squad = await call("POST", "/squads", { name: "browser-squad", members: [{ agent: "browser-echo" }], policy: { maxConcurrency: 2, taskTimeoutMs: 10_000, retries: 0 } });

  await page.goto(server.url);
  await page.fill("#api-key", ADMIN_KEY);
  await page.click("#sign-in");
  await page.waitForSelector("#overview");
  await shot("overview");

  await page.goto(`${server.url}/#/agents?q=browser`);
  await page.click(`a[href*="agent=${agent.id}"]`);
  await page.waitForSelector("#score-chart canvas, #score-chart-empty");
  assert.equal(await page.locator("#score-chart canvas").count(), 1, "the score chart draws the evaluation");
  assert.match(await page.locator("#agent-versions").innerText(), /1\.0\.0/);
  assert.match(await page.locator("#agent-deployments").innerText(), /live/);
  await shot("agent-scores");

  await page.goto(`${server.url}/#/squads?id=${squad.id}`);
  await page.waitForSelector("#stream-state.live");
  const task = await call("POST", `/squads/${squad.id}/tasks`, { capability: "echo", input: "live" });
  await page.waitForSelector(`tr[data-task="${task.taskId}"].completed`, { timeout: 15_000 });
  await shot("squad-live");

  assert.deepEqual(problems, []);
});

test("open an evolution run: score per generation, candidates with their gate verdicts, lineage", async () => {
  await call("POST", "/agents", { ...JSON.parse(example("spec.json")), name: "browser-sentiment", code: example("agent.js") });
  const suite = JSON.parse(example("suite.json"));
  await call("POST", "/suites", { name: "browser-sentiment-suite", agent: "browser-sentiment", description: suite.description, cases: suite.cases });
  await call("PUT", "/agents/browser-sentiment/evolution", { ...JSON.parse(example("policy.json")), suite: "browser-sentiment-suite", population: 4, generationsPerRun: 2 });
  const { runId } = await call("POST", "/evolution/runs", { agent: "browser-sentiment" });
  const run = await poll(
    () => call("GET", `/evolution/runs/${runId}`),
    (r) => r.status === "completed" || r.status === "failed",
    `evolution run ${runId}`,
  );
  assert.equal(run.status, "completed", run.error ?? "");

  await page.goto(`${server.url}/#/evolution?agent=browser-sentiment`);
  await page.click(`tr[data-run="${runId}"] a`);
  await page.waitForSelector("#generation-chart canvas");
  assert.equal(await page.locator("#candidates tr[data-candidate]").count(), run.candidates.length);
  assert.ok((await page.locator("#lineage li").count()) >= run.candidates.length, "every candidate appears in the lineage");
  const gated = run.candidates.find((c) => c.gate);
  if (gated) assert.match(await page.locator(`tr[data-candidate="${gated.id}"]`).innerText(), new RegExp(gated.gate.decision));
  await shot("evolution-run");
  // A child against its parent: the genes its operator changed.
  const child = run.candidates.find((c) => c.parents.length > 0);
  await page.click(`tr[data-candidate="${child.id}"] a`);
  await page.waitForSelector("#candidate-diff #changes tr td");
  assert.match(await page.locator("#candidate-diff").innerText(), /params\./);
  await shot("candidate-diff");
  assert.deepEqual(problems, []);
});

test("replay a dead letter once its target can take it", async () => {
  // A task for a capability no member offers is refused for good: dead-lettered at once.
  const squad = await call("POST", "/squads", { name: "browser-dlq", members: [{ agent: "browser-echo" }], policy: { maxConcurrency: 1, taskTimeoutMs: 10_000, retries: 0 } });
  const { id } = await call("POST", "/messages", { to: { squad: squad.id }, payload: { capability: "shout", input: "again" } });
  await poll(
    () => fetch(`${server.url}/api/v1/dead-letters/${id}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }).then((r) => r.status),
    (s) => s === 200,
    "the dead letter",
  );
  // Now a member offers it; the replay goes through.
  await call("POST", "/agents", {
    name: "browser-shout",
    version: "1.0.0",
    kind: "code",
    description: "shout",
    capabilities: ["shout"],
    code: "export default { async run(input) { return String(input).toUpperCase(); } };",
  });
  await call("PUT", `/squads/${squad.id}`, {
    name: "browser-dlq",
    members: [{ agent: "browser-echo" }, { agent: "browser-shout" }],
    policy: { maxConcurrency: 1, taskTimeoutMs: 10_000, retries: 0 },
  });

  await page.goto(`${server.url}/#/dead-letters?reason=rejected`);
  await page.click(`tr[data-id="${id}"] button.replay`);
  await page.waitForSelector(`#replay-note:has-text("replayed ${id}")`);
  const delivered = await poll(
    () => call("GET", `/messages/${id}`),
    (m) => m.status === "delivered",
    `message ${id} delivered`,
    30_000,
  );
  assert.equal(delivered.status, "delivered");
  await shot("dead-letter-replayed");
  assert.deepEqual(problems, []);
});

test("a trace shows the runs it caused; the other pages render without errors", async () => {
  const traceId = "0af7651916cd43dd8448eb211c80319c";
  const res = await fetch(`${server.url}/api/v1/execute`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json", traceparent: `00-${traceId}-b7ad6b7169203331-01` },
    body: JSON.stringify({ agent: "browser-echo", input: "traced" }),
  });
  assert.equal(res.status, 200);
  await page.goto(`${server.url}/#/trace?id=${traceId}`);
  await page.waitForSelector("#trace-runs tr.succeeded");
  await shot("trace");
  // A workflow run: its DAG by level, every step completed, and the request's trace on the run.
  const squad = await call("POST", "/squads", { name: "browser-wf", members: [{ agent: "browser-echo" }], policy: { maxConcurrency: 2, taskTimeoutMs: 10_000, retries: 0 } });
  await call("POST", "/workflows", {
    name: "browser-chain",
    steps: [
      { id: "first", capability: "echo", input: "{{input}}" },
      { id: "second", capability: "echo", dependsOn: ["first"], input: "{{steps.first.output}}" },
    ],
  });
  const { runId } = await call("POST", `/squads/${squad.id}/runs`, { workflow: "browser-chain", input: "go" });
  await page.goto(`${server.url}/#/workflows?squad=${squad.id}&run=${runId}`);
  await page.waitForSelector('#dag .step.completed[data-step="second"]', { timeout: 15_000 });
  assert.equal(await page.locator("#timeline rect").count(), 2);
  await shot("workflow-run");
  for (const name of ["workflows", "approvals", "aws", "overview"]) {
    await page.goto(`${server.url}/#/${name}`);
    await page.waitForSelector(`header a.active[href="#/${name}"]`);
  }
  assert.deepEqual(problems, []);
});
