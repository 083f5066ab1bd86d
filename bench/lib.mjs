// Shared benchmark plumbing: start local workers with wrangler, drive them with autocannon, print rows.
import autocannon from "autocannon";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "..");
export const ADMIN_KEY = "bench-admin-key";

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], ...opts });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}\n${out}`))));
  });
}

async function waitFor(url, child, log) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`worker exited early:\n${log()}`);
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`timed out waiting for ${url}:\n${log()}`);
}

/**
 * Starts a worker with wrangler's local dev server (bench/dev-worker.mjs: no DevTools inspector unless
 * `inspectorPort` is given) on a port with its own persisted state; returns {url, port, group, stop}.
 */
export async function startWorker({ config = "wrangler.toml", port, vars = {}, migrate = false, inspectorPort }) {
  // BENCH_STATE_DIR (e.g. /dev/shm) moves local D1 and Durable Object storage off the disk: a diagnostic of how much
  // the local disk's syncs weigh, not how the figures are taken (those keep the default, on disk).
  const persist = mkdtempSync(path.join(process.env.BENCH_STATE_DIR || tmpdir(), "tdev-bench-"));
  if (migrate) await run("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist, "-c", config]);
  const options = JSON.stringify({ config, port, persist, vars, inspectorPort });
  // Its own process group, so `stop` ends workerd too and cpuSeconds can tell its processes apart.
  const child = spawn(process.execPath, [path.join(ROOT, "bench", "dev-worker.mjs"), options], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(url, child, () => log);
  return {
    url,
    port,
    group: child.pid,
    stop: () => {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
    },
  };
}

// A deployment has a message key ring (as `npm start` does): without one, system events skip the queue and the bench measures less work.
const BENCH_MESSAGE_KEYS = JSON.stringify([{ kid: "bench-1", key: "BdJCSLQIr7fC2mIuNc+vsx94rGuQlW4DbYcIArG/Rl8=" }]);

export async function startSystem(port = 8790, vars = {}) {
  const system = await startWorker({
    port,
    migrate: true,
    vars: { ADMIN_API_KEY: ADMIN_KEY, RATE_LIMIT_CAPACITY: "100000000", RATE_LIMIT_PER_MINUTE: "100000000", MESSAGE_KEYS: BENCH_MESSAGE_KEYS, ...vars },
  });
  return { ...system, name: "system" };
}

export const startFloor = (port = 8791) => startWorker({ config: "bench/floor/wrangler.toml", port }).then((w) => ({ ...w, name: "floor" }));

/** The floor's constant answer behind the system's own wrangler.toml (bench/floor/configured.js): what the configuration costs a request. */
export async function startConfiguredFloor(port = 8795) {
  const config = path.join(mkdtempSync(path.join(tmpdir(), "tdev-configured-")), "wrangler.toml");
  const toml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8")
    .replace(/^main = .*$/m, `main = ${JSON.stringify(path.join(ROOT, "bench/floor/configured.js"))}`)
    .replace(/^directory = "(.*)"$/m, (_, dir) => `directory = ${JSON.stringify(path.join(ROOT, dir))}`)
    .replace(/^migrations_dir = "(.*)"$/gm, (_, dir) => `migrations_dir = ${JSON.stringify(path.join(ROOT, dir))}`);
  writeFileSync(config, toml);
  return startWorker({ config, port }).then((w) => ({ ...w, name: "configured floor" }));
}

/** Runs autocannon and returns {rps, p50, p99, errors, non2xx, requests}. */
export async function load(opts) {
  const result = await autocannon({ connections: 10, duration: 8, ...opts });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    requests: result.requests.total,
  };
}

/** The middle value (the upper middle of an even count). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * The cases and the floor measured in turns (floor, each case, floor, each case, …), so all see the same machine:
 * on a shared 2-core host the speed drifts by a third within minutes, and a floor measured once at the start
 * would carry that drift into the ratios. Returns the floor's median round and, per case, its median round
 * and the median of its per-round ratios to the same round's floor (and those ratios, to pool with other runs).
 */
export async function inTurns(floorOpts, casesOpts, { rounds = 3, duration = 5 } = {}) {
  const floors = [];
  const cases = casesOpts.map(() => []);
  for (let i = 0; i < rounds; i++) {
    floors.push(await load({ duration, ...floorOpts }));
    for (const [k, opts] of casesOpts.entries()) cases[k].push(await load({ duration, ...opts }));
  }
  const pick = (runs) => {
    const middle = median(runs.map((r) => r.rps));
    return { ...runs.find((r) => r.rps === middle), p99: median(runs.map((r) => r.p99)) };
  };
  return {
    floor: pick(floors),
    cases: cases.map((runs) => {
      const ratios = runs.map((r, i) => r.rps / floors[i].rps);
      return { result: pick(runs), ratio: median(ratios), ratios };
    }),
  };
}

/** One case against the floor, in turns (inTurns). */
export async function againstFloor(floorOpts, caseOpts, options) {
  const { floor, cases } = await inTurns(floorOpts, [caseOpts], options);
  return { floor, ...cases[0] };
}

/** CPU seconds used so far by each process of the given `wrangler dev` workers and by this one (the load generator). */
export function cpuSeconds(workers) {
  const out = new Map();
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let stat;
    let cmd;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue; // ended meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const group = Number(fields[2]);
    const seconds = (Number(fields[11]) + Number(fields[12])) / 100;
    let role;
    if (Number(pid) === process.pid) role = "load generator (autocannon, this process)";
    for (const w of workers) {
      if (group !== w.group) continue;
      if (!cmd.includes("workerd")) role = `${w.name}: wrangler's dev server (node)`;
      else if (new RegExp(`entry=[^\\0]*:${w.port}\\0`).test(cmd)) role = `${w.name}: wrangler's proxy (workerd)`;
      else role = `${w.name}: the worker (workerd)`;
    }
    if (role) out.set(role, (out.get(role) ?? 0) + seconds);
  }
  return out;
}

/** Runs one load and charges each process's CPU to its requests: where a request's time goes on this machine. */
export async function loadWithCpu(opts, workers) {
  const before = cpuSeconds(workers);
  const result = await load(opts);
  const after = cpuSeconds(workers);
  const msPerRequest = [...after]
    .map(([role, s]) => [role, ((s - (before.get(role) ?? 0)) * 1000) / Math.max(1, result.requests)])
    .filter(([, ms]) => ms >= 0.005)
    .sort((a, b) => b[1] - a[1]);
  return { ...result, msPerRequest };
}

export function printCpu(title, cases) {
  console.log(`\n## ${title}`);
  console.log(`| process | ${cases.map(([name]) => name).join(" | ")} |`);
  console.log(`|---|${cases.map(() => "---:").join("|")}|`);
  const roles = [...new Set(cases.flatMap(([, r]) => r.msPerRequest.map(([role]) => role)))];
  for (const role of roles) console.log(`| ${role} | ${cases.map(([, r]) => (r.msPerRequest.find(([x]) => x === role)?.[1] ?? 0).toFixed(2)).join(" | ")} |`);
}

export function printRows(title, rows, floor) {
  console.log(`\n## ${title}`);
  console.log("| case | req/s | p50 ms | p99 ms | req/s vs floor | errors/non-2xx |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const [name, r] of rows) {
    const ratio = r.ratio !== undefined ? `${(r.ratio * 100).toFixed(0)}%` : floor ? `${((r.rps / floor.rps) * 100).toFixed(0)}%` : "—";
    console.log(`| ${name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${ratio} | ${r.errors}/${r.non2xx} |`);
  }
}

export const authHeaders = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
