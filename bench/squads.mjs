// Issue 4 figures, each beside a floor measured in the same run against the same local system (wrangler dev):
// - tasks/s through one squad and across 50 squads (trivial code agent) vs the same runs through POST /execute;
// - end-to-end latency of a 10-step diamond workflow (submit -> run.completed on the stream) vs its critical
//   path of 3 sequential /execute calls;
// - events/s delivered to 100 WebSocket clients of one squad vs the squad's event rate with no clients.
// Called by bench/run.mjs; runs alone with `node bench/squads.mjs`.
import WebSocket from "ws";
import { authHeaders, median, startSystem } from "./lib.mjs";

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function client(base) {
  return async (method, path, body) => {
    const res = await fetch(`${base}${path}`, { method, headers: authHeaders, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
}

/** Runs `count` jobs with at most `width` in flight. */
async function pool(count, width, job) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) await job(next++);
    }),
  );
}

const policy = { maxConcurrency: 32, taskTimeoutMs: 10_000, retries: 0 }; // as many in flight as the floor

async function completed(call, squads) {
  let done = 0;
  for (const id of squads) {
    const s = await call("GET", `/api/v1/squads/${id}`);
    done += s.stats.tasks.completed + s.stats.tasks.failed;
  }
  return done;
}

/** Submits `n` tasks spread over `squads` and waits for all to finish; tasks/s from first submit to last finish. */
async function squadThroughput(call, squads, n) {
  const before = await completed(call, squads);
  const started = performance.now();
  await pool(n, 32, (i) => call("POST", `/api/v1/squads/${squads[i % squads.length]}/tasks`, { capability: "bench", input: { i } }));
  while ((await completed(call, squads)) - before < n) await sleep(20);
  const ms = performance.now() - started;
  return { n, ms, perSecond: (n / ms) * 1000 };
}

async function executeThroughput(call, n) {
  const started = performance.now();
  await pool(n, 32, (i) => call("POST", "/api/v1/execute", { agent: "bench-echo", input: { i } }));
  const ms = performance.now() - started;
  return { n, ms, perSecond: (n / ms) * 1000 };
}

function openStream(base, squad) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace("http", "ws")}/api/v1/squads/${squad}/stream`, { headers: { authorization: authHeaders.authorization } });
    ws.on("open", () => resolve(ws));
    ws.on("error", reject);
  });
}

export default async function squadsBench({ system } = {}) {
  const own = system ? null : await startSystem();
  const base = (system ?? own).url;
  const call = client(base);
  try {
    await call("POST", "/api/v1/agents", {
      name: "bench-echo",
      version: "1.0.0",
      kind: "code",
      capabilities: ["bench"],
      code: "export default { async run(input) { return input; } };",
    }).catch(() => undefined); // already registered by an earlier area
    const one = (await call("POST", "/api/v1/squads", { name: "bench one", members: [{ agent: "bench-echo" }], policy })).id;
    const fifty = [];
    for (let i = 0; i < 50; i++) fifty.push((await call("POST", "/api/v1/squads", { name: `bench ${i}`, members: [{ agent: "bench-echo" }], policy })).id);

    // Warm isolates, the loader and D1.
    await executeThroughput(call, 50);
    await squadThroughput(call, [one], 50);
    await squadThroughput(call, fifty, 100);

    const N = 1000;
    const floorTasks = await executeThroughput(call, N);
    const oneSquad = await squadThroughput(call, [one], N);
    const manySquads = await squadThroughput(call, fifty, N);

    // 10-step diamond: start -> 8 in parallel -> join.
    const middle = Array.from({ length: 8 }, (_, i) => ({ id: `m${i}`, capability: "bench", dependsOn: ["start"], input: { part: i, from: "{{steps.start.output.n}}" } }));
    await call("POST", "/api/v1/workflows", {
      name: "bench-diamond",
      steps: [
        { id: "start", capability: "bench", input: { n: "{{input.n}}" } },
        ...middle,
        { id: "join", capability: "bench", dependsOn: middle.map((m) => m.id), input: middle.map((m) => `{{steps.${m.id}.output}}`) },
      ],
    });
    const wfSquad = (await call("POST", "/api/v1/squads", { name: "bench workflows", members: [{ agent: "bench-echo" }], policy })).id;
    const ws = await openStream(base, wfSquad);
    const waiting = new Map();
    ws.on("message", (raw) => {
      const e = JSON.parse(String(raw));
      if (e.type === "run.completed" || e.type === "run.failed") waiting.get(e.data.runId)?.(e);
    });
    const runOnce = async (n) => {
      const started = performance.now();
      let resolveDone;
      const done = new Promise((r) => (resolveDone = r));
      const { runId } = await call("POST", `/api/v1/squads/${wfSquad}/runs`, { workflow: "bench-diamond", input: { n } });
      waiting.set(runId, resolveDone);
      // A run may finish before its id is registered above; the run record answers then.
      const quick = await call("GET", `/api/v1/squads/${wfSquad}/runs/${runId}`);
      const event = quick.status !== "running" ? { type: `run.${quick.status}`, data: { durationMs: quick.durationMs } } : await done;
      if (event.type !== "run.completed") throw new Error(`diamond run ${runId} failed`);
      return { e2e: performance.now() - started, inSquad: event.data.durationMs };
    };
    for (let i = 0; i < 3; i++) await runOnce(i);
    const runs = [];
    for (let i = 0; i < 20; i++) runs.push(await runOnce(i));
    ws.close();
    const chain = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      for (let s = 0; s < 3; s++) await call("POST", "/api/v1/execute", { agent: "bench-echo", input: { s } });
      chain.push(performance.now() - started);
    }

    // Events to 100 clients: the same batch of tasks with no clients (floor), then with 100 connected.
    const evSquad = (await call("POST", "/api/v1/squads", { name: "bench events", members: [{ agent: "bench-echo" }], policy })).id;
    const BATCH = 300; // 3 events per task
    const quiet = await squadThroughput(call, [evSquad], BATCH);
    const quietEventsPerSecond = (BATCH * 3 * 1000) / quiet.ms;
    const clients = [];
    for (let i = 0; i < 100; i++) clients.push(await openStream(base, evSquad));
    let received = 0;
    let last = 0;
    for (const c of clients)
      c.on("message", () => {
        received += 1;
        last = performance.now();
      });
    const started = performance.now();
    await squadThroughput(call, [evSquad], BATCH);
    const expected = BATCH * 3 * 100;
    const deadline = Date.now() + 60_000;
    while (received < expected && Date.now() < deadline) await sleep(20);
    const deliveredMs = last - started;
    for (const c of clients) c.close();
    const deliveriesPerSecond = (received * 1000) / deliveredMs;

    console.log("\n## Squads (inside workerd via wrangler dev, local D1 and Worker Loader; trivial code agent)");
    console.log("| case | tasks | ms | tasks/s | vs floor |");
    console.log("|---|---:|---:|---:|---:|");
    const row = (name, r) => console.log(`| ${name} | ${r.n} | ${r.ms.toFixed(0)} | ${r.perSecond.toFixed(0)} | ${((r.perSecond / floorTasks.perSecond) * 100).toFixed(0)}% |`);
    row("floor: POST /execute, 32 in flight", floorTasks);
    row("one squad (maxConcurrency 32), 32 submitters, until all completed", oneSquad);
    row("50 squads, 32 submitters, until all completed", manySquads);
    const e2e = runs.map((r) => r.e2e);
    const inSquad = runs.map((r) => r.inSquad);
    console.log("\n| 10-step diamond workflow (20 runs) | p50 ms | p95 ms |");
    console.log("|---|---:|---:|");
    console.log(`| submit -> run.completed on the stream | ${median(e2e).toFixed(0)} | ${pct(e2e, 95).toFixed(0)} |`);
    console.log(`| inside the squad (run started -> finished) | ${median(inSquad).toFixed(0)} | ${pct(inSquad, 95).toFixed(0)} |`);
    console.log(`| floor: its critical path, 3 sequential POST /execute | ${median(chain).toFixed(0)} | ${pct(chain, 95).toFixed(0)} |`);
    console.log("\n| stream fan-out (one squad, 300 tasks = 900 events) | clients | deliveries | deliveries/s | events/s emitted |");
    console.log("|---|---:|---:|---:|---:|");
    console.log(`| floor: same tasks, no clients connected | 0 | 0 | — | ${quietEventsPerSecond.toFixed(0)} |`);
    console.log(`| 100 WebSocket clients (hibernation API) | 100 | ${received}/${expected} | ${deliveriesPerSecond.toFixed(0)} | ${(deliveriesPerSecond / 100).toFixed(0)} |`);
    console.log(`\nSeed claim: workflow execution under 0.5 s -> measured p50 ${median(e2e).toFixed(0)} ms end to end for a 10-step diamond.`);
  } finally {
    own?.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await squadsBench();
  process.exit(0);
}
