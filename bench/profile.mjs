// `node bench/profile.mjs [execute|get|agents|messages]`: where a hot path's time goes. Starts the local system
// (or, for messages, bench/messaging-worker at normal priority) with the V8 inspector, drives one path with
// autocannon (messages: 3 × 2,000 end to end) while the CPU profiler samples the worker, and prints self time
// grouped by where the code lives (our modules, hono, zod, workerd's runtime) and the top functions.
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { authHeaders, load, startWorker, ADMIN_KEY } from "./lib.mjs";

const INSPECTOR_PORT = 9239;
const path = process.argv[2] ?? "execute";
const TRIVIAL = "export default { async run(input) { return input; } };";

const MESSAGES = 2000;
const system = await startWorker(
  path === "messages"
    ? { config: "bench/messaging-worker/wrangler.toml", port: 8792, migrate: true, inspectorPort: INSPECTOR_PORT }
    : { port: 8792, migrate: true, inspectorPort: INSPECTOR_PORT, vars: { ADMIN_API_KEY: ADMIN_KEY, RATE_LIMIT_CAPACITY: "100000000", RATE_LIMIT_PER_MINUTE: "100000000" } },
);

/** Sends 3 × MESSAGES through the messaging worker end to end; returns {rps: messages per second}. */
async function messages(rounds) {
  const started = performance.now();
  for (let i = 0; i < rounds; i++) {
    const res = await fetch(`${system.url}/e2e?n=${MESSAGES}&priority=5`, { method: "POST" });
    if (!res.ok) throw new Error(`e2e failed: ${res.status} ${await res.text()}`);
  }
  return { rps: (rounds * MESSAGES * 1000) / (performance.now() - started), p50: "—", p99: "—", seconds: (performance.now() - started) / 1000 };
}

/** The one DevTools target the user worker exposes, spoken to over CDP. */
async function inspector() {
  const targets = await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json`)).json();
  const target = targets.find((t) => !/dev-registry|proxy/i.test(t.title ?? "")) ?? targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await once(ws, "open");
  let nextId = 0;
  const waiting = new Map();
  const scripts = [];
  ws.on("message", (data) => {
    const msg = JSON.parse(String(data));
    if (msg.id && waiting.has(msg.id)) waiting.get(msg.id)(msg.result);
    if (msg.method === "Debugger.scriptParsed") scripts.push(msg.params);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve) => {
        const id = ++nextId;
        waiting.set(id, resolve);
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
    scripts,
  };
}

/** The bundle's source maps (wrangler writes index.js.map beside index.js), by script id. */
function sourceMaps(scripts) {
  const maps = new Map();
  for (const s of scripts) {
    if (!s.url.startsWith("file://") || !s.sourceMapURL || s.sourceMapURL.startsWith("data:")) continue;
    try {
      maps.set(s.scriptId, new SourceMap(JSON.parse(readFileSync(fileURLToPath(new URL(s.sourceMapURL, s.url)), "utf8"))));
    } catch (error) {
      console.warn(`no source map for ${s.url}: ${error.message}`);
    }
  }
  return maps;
}

/** The original file of a profiled frame, through the bundle's source map. */
function originalUrl(frame, maps) {
  const map = maps.get(frame.scriptId);
  if (!map) return frame.url ?? "";
  const entry = map.findEntry(frame.lineNumber, frame.columnNumber);
  return entry?.originalSource ?? frame.url;
}

function area(frame, maps) {
  if (["(idle)", "(program)", "(garbage collector)", "(root)"].includes(frame.functionName)) return frame.functionName;
  const url = originalUrl(frame, maps);
  if (!url) return "runtime (native, no source)";
  for (const [name, pattern] of [
    ["hono", /node_modules\/hono|@hono/],
    ["zod", /node_modules\/zod/],
    ["drizzle", /drizzle-orm/],
    ["bench worker", /bench\/messaging-worker/],
  ])
    if (pattern.test(url)) return name;
  const ours = url.match(/\/src\/(.+)$/);
  if (ours) return `src/${ours[1]}`;
  return url.replace(/^.*\/(node_modules\/[^/]+).*$/, "$1").slice(0, 60);
}

try {
  const post = (p, body) => fetch(`${system.url}${p}`, { method: "POST", headers: authHeaders, body: JSON.stringify(body) });
  const created = path === "messages" ? {} : await (await post("/api/v1/agents", { name: "profile-trivial", version: "1.0.0", kind: "code", code: TRIVIAL })).json();
  const cases = {
    execute: { url: `${system.url}/api/v1/execute`, method: "POST", headers: authHeaders, body: JSON.stringify({ agent: "profile-trivial", input: { n: 1 } }) },
    get: { url: `${system.url}/api/v1/agents/${created.id}`, headers: authHeaders },
    agents: {
      url: `${system.url}/api/v1/agents`,
      method: "POST",
      headers: authHeaders,
      requests: [
        { setupRequest: (req) => ({ ...req, body: JSON.stringify({ name: `p-${Math.random().toString(36).slice(2)}`, version: "1.0.0", kind: "code", code: TRIVIAL }) }) },
      ],
    },
  };
  const drive = (seconds) => (path === "messages" ? messages(seconds === 2 ? 1 : 3) : load({ ...cases[path], duration: seconds }).then((r) => ({ ...r, seconds })));
  await drive(2); // warm
  const cdp = await inspector();
  await cdp.send("Debugger.enable");
  const maps = sourceMaps(cdp.scripts);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: Number(process.env.PROFILE_INTERVAL_US ?? 200) });
  await cdp.send("Profiler.start");
  const stats = await drive(5);
  const { profile } = await cdp.send("Profiler.stop");
  cdp.close();

  const dt = new Map();
  for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  let total = 0;
  const byArea = new Map();
  const byFn = new Map();
  for (const node of profile.nodes) {
    const us = dt.get(node.id) ?? 0;
    total += us;
    const a = area(node.callFrame, maps);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
    const fn = `${node.callFrame.functionName || "(anonymous)"} ${a}:${maps.get(node.callFrame.scriptId)?.findEntry(node.callFrame.lineNumber, node.callFrame.columnNumber)?.originalLine ?? node.callFrame.lineNumber}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
  }
  // Each sample charged to the innermost of our own frames on its stack: what our code costs, library calls included.
  const parentOf = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node);
  const ownerCache = new Map();
  const ownerOf = (node) => {
    if (ownerCache.has(node.id)) return ownerCache.get(node.id);
    const a = area(node.callFrame, maps);
    const parent = parentOf.get(node.id);
    const owner = a.startsWith("src/") ? `${a} ${node.callFrame.functionName || "(anonymous)"}` : parent ? ownerOf(parent) : a;
    ownerCache.set(node.id, owner);
    return owner;
  };
  const byOwner = new Map();
  for (const node of profile.nodes) {
    const us = dt.get(node.id) ?? 0;
    if (us) byOwner.set(ownerOf(node), (byOwner.get(ownerOf(node)) ?? 0) + us);
  }
  const requests = stats.rps * stats.seconds;
  const busy = total - (byArea.get("(idle)") ?? 0);
  const unit = path === "messages" ? "message" : "request";
  console.log(
    `# profile of ${path}: ${stats.rps.toFixed(0)} ${unit}s/s, p50 ${stats.p50} ms, p99 ${stats.p99} ms; worker busy ${(busy / 1000 / requests).toFixed(3)} ms per ${unit}, idle ${(((byArea.get("(idle)") ?? 0) / total) * 100).toFixed(0)}% of the time`,
  );
  console.log(`| where | ms per ${unit} | share of busy |\n|---|---:|---:|`);
  for (const [a, us] of [...byArea].sort((x, y) => y[1] - x[1]).slice(0, 14)) console.log(`| ${a} | ${(us / 1000 / requests).toFixed(3)} | ${((us / busy) * 100).toFixed(0)}% |`);
  console.log(`\n| our innermost frame (library time included) | ms per ${unit} |\n|---|---:|`);
  for (const [owner, us] of [...byOwner].sort((x, y) => y[1] - x[1]).slice(0, 25)) console.log(`| ${owner} | ${(us / 1000 / requests).toFixed(3)} |`);
  console.log(`\n| top functions (self) | ms per ${unit} |\n|---|---:|`);
  for (const [fn, us] of [...byFn].sort((x, y) => y[1] - x[1]).slice(0, 20)) console.log(`| ${fn} | ${(us / 1000 / requests).toFixed(3)} |`);
} finally {
  system.stop();
}
process.exit(0);
