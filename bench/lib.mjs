// Shared benchmark plumbing: start local workers with wrangler, drive them with autocannon, print rows.
import autocannon from "autocannon";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
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

/** Starts `wrangler dev` on a port with its own persisted state; returns {url, stop}. */
export async function startWorker({ config = "wrangler.toml", port, vars = {}, migrate = false, inspectorPort }) {
  const persist = mkdtempSync(path.join(tmpdir(), "tdev-bench-"));
  if (migrate) await run("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist, "-c", config]);
  const args = ["wrangler", "dev", "-c", config, "--port", String(port), "--persist-to", persist, "--log-level", "warn"];
  if (inspectorPort) args.push("--inspector-port", String(inspectorPort));
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const child = spawn("npx", args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(url, child, () => log);
  return {
    url,
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
  return startWorker({
    port,
    migrate: true,
    vars: { ADMIN_API_KEY: ADMIN_KEY, RATE_LIMIT_CAPACITY: "100000000", RATE_LIMIT_PER_MINUTE: "100000000", MESSAGE_KEYS: BENCH_MESSAGE_KEYS, ...vars },
  });
}

export const startFloor = (port = 8791) => startWorker({ config: "bench/floor/wrangler.toml", port });

/** Runs autocannon and returns {rps, p50, p99, errors, non2xx}. */
export async function load(opts) {
  const result = await autocannon({ connections: 10, duration: 8, ...opts });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

export function printRows(title, rows, floor) {
  console.log(`\n## ${title}`);
  console.log("| case | req/s | p50 ms | p99 ms | req/s vs floor | errors/non-2xx |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const [name, r] of rows) {
    const ratio = floor ? `${((r.rps / floor.rps) * 100).toFixed(0)}%` : "—";
    console.log(`| ${name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${ratio} | ${r.errors}/${r.non2xx} |`);
  }
}

export const authHeaders = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
