// Starts `wrangler dev` for the browser test with its own persisted state (as bench/lib.mjs does).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");
export const ADMIN_KEY = "browser-admin-key";

export async function startServer(port) {
  const persist = mkdtempSync(path.join(tmpdir(), "tdev-browser-"));
  execFileSync("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], { cwd: ROOT, stdio: "ignore" });
  const vars = {
    ADMIN_API_KEY: ADMIN_KEY,
    RATE_LIMIT_CAPACITY: "1000000",
    MESSAGE_RETRY_BASE_SECONDS: "0",
    MESSAGE_KEYS: JSON.stringify([{ kid: "browser-1", key: "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=" }]),
  };
  const args = ["wrangler", "dev", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", persist, "--log-level", "warn"];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const child = spawn("npx", args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${log}`);
    try {
      if ((await fetch(`${url}/api/v1/health`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`wrangler dev did not answer:\n${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    log: () => log,
    stop: () => {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
    },
  };
}
