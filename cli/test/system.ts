// The real local system for tdev's tests: `wrangler dev --test-scheduled` on a free port with its own state,
// and tdev run as a subprocess against it, as a user would. (bench/lib.mjs starts workers the same way but
// takes no extra wrangler flags; --test-scheduled is what `tdev cron` needs.)
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const ADMIN_KEY = "cli-test-admin-key";
const TDEV = path.join(ROOT, "cli/tdev.mjs");

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function exec(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}\n${out}`))));
  });
}

export interface System {
  url: string;
  /** The --persist-to directory: start another system on it to restart on the same state. */
  persist: string;
  log: () => string;
  stop: () => void;
  /** SIGKILL to wrangler's whole process group (workerd included); resolves once it is gone. */
  kill: () => Promise<void>;
}

/** Migrates a fresh local D1 (or reuses `persist`) and starts wrangler dev; resolves once /api/v1/health answers. */
export async function startSystem(opts: { persist?: string } = {}): Promise<System> {
  const persist = opts.persist ?? mkdtempSync(path.join(tmpdir(), "tdev-cli-"));
  if (!opts.persist) await exec("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist]);
  const port = await freePort();
  const vars = {
    ADMIN_API_KEY: ADMIN_KEY,
    RATE_LIMIT_CAPACITY: "100000",
    RATE_LIMIT_PER_MINUTE: "100000",
    // A test-only key ring and immediate message retries, so a failing message dead-letters in seconds.
    MESSAGE_KEYS: JSON.stringify([{ kid: "cli-test", key: "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=" }]),
    MESSAGE_RETRY_BASE_SECONDS: "0",
    CANARY_TRAFFIC_PERCENT: "0",
  };
  const args = ["wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", persist, "--test-scheduled", "--log-level", "warn"];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const child: ChildProcess = spawn("npx", args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let log = "";
  child.stdout!.on("data", (d) => (log += d));
  child.stderr!.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${log}`);
    if (Date.now() > deadline) throw new Error(`wrangler dev did not answer in time:\n${log}`);
    try {
      if ((await fetch(`${url}/api/v1/health`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return {
    url,
    persist,
    log: () => log,
    kill: async () => {
      process.kill(-child.pid!, "SIGKILL");
      await exited;
    },
    stop: () => {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        // already gone
      }
    },
  };
}

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface TdevOptions {
  env?: Record<string, string | undefined>;
  stdin?: string;
}

/** A tdev process that is still running: for tail and Ctrl-C tests. */
export function spawnTdev(args: string[], opts: TdevOptions = {}) {
  const child = spawn(process.execPath, [TDEV, ...args], {
    cwd: ROOT,
    // No TTY, no colour, no saved login unless a test sets HOME: each test states its settings.
    env: { PATH: process.env.PATH, HOME: opts.env?.HOME ?? mkdtempSync(path.join(tmpdir(), "tdev-home-")), NO_COLOR: "1", ...opts.env },
    stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
  const result: Result = { code: null, signal: null, stdout: "", stderr: "" };
  child.stdout!.on("data", (d) => (result.stdout += d));
  child.stderr!.on("data", (d) => (result.stderr += d));
  const done = new Promise<Result>((resolve) => child.on("exit", (code, signal) => resolve(Object.assign(result, { code, signal }))));
  /** Resolves once stdout or stderr contains `text` (fails after `ms`). */
  const waitFor = async (text: string, ms = 30_000) => {
    const until = Date.now() + ms;
    while (!(result.stdout + result.stderr).includes(text)) {
      if (Date.now() > until) throw new Error(`tdev ${args.join(" ")} never printed ${JSON.stringify(text)}:\n${result.stdout}\n${result.stderr}`);
      if (child.exitCode !== null) throw new Error(`tdev ${args.join(" ")} exited ${child.exitCode} before printing ${JSON.stringify(text)}:\n${result.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { child, result, done, waitFor };
}

/** Runs tdev to completion. */
export const tdev = (args: string[], opts: TdevOptions = {}) => spawnTdev(args, opts).done;

/** Every line of a --json stream, parsed. */
export const jsonLines = (text: string) =>
  text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
