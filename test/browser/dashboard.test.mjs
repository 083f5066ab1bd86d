// The dashboard in a real Chromium (Debian's /usr/bin/chromium, driven by playwright-core) against `wrangler dev`.
// Fails on any console error and on any request to a host other than the server. Screenshots: test/browser/artifacts/.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
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
  const res = await fetch(`${server.url}/api/v1${p}`, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" }, body: body && JSON.stringify(body) });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
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
  await shot("agent-scores");

  await page.goto(`${server.url}/#/squads?id=${squad.id}`);
  await page.waitForSelector("#stream-state.live");
  const task = await call("POST", `/squads/${squad.id}/tasks`, { capability: "echo", input: "live" });
  await page.waitForSelector(`tr[data-task="${task.taskId}"].completed`, { timeout: 15_000 });
  await shot("squad-live");

  assert.deepEqual(problems, []);
});
