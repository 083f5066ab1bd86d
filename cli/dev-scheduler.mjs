#!/usr/bin/env node
// `npm start`'s cron: `wrangler dev` never fires cron triggers by itself, so this runs the given command
// (wrangler dev --test-scheduled …) and calls its /__scheduled route on the wrangler.toml [triggers] schedule.
//   node cli/dev-scheduler.mjs [--config wrangler.toml] -- wrangler dev --port 8787 --test-scheduled …
import { Cron } from "croner";
import { spawn } from "node:child_process";
import { readFileSync, realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { parse as parseToml } from "smol-toml";

/** The cron expressions of a wrangler.toml ([triggers] crons = [...]). */
export function cronsOf(/** @type {string} */ tomlText) {
  const config = /** @type {{ triggers?: { crons?: unknown } }} */ (parseToml(tomlText));
  const crons = config.triggers?.crons;
  return Array.isArray(crons) ? crons.filter((c) => typeof c === "string") : [];
}

/** The port the wrapped `wrangler dev` listens on: its --port / --port=N, else wrangler's default 8787. */
export function portOf(/** @type {string[]} */ command) {
  const i = command.findIndex((a) => a === "--port" || a.startsWith("--port="));
  if (i < 0) return 8787;
  const value = command[i]?.includes("=") ? command[i]?.split("=")[1] : command[i + 1];
  return Number(value) || 8787;
}

/** The URL that makes `wrangler dev --test-scheduled` run the scheduled handler as if `cron` fired at `time`. */
export const scheduledUrl = (/** @type {number} */ port, /** @type {string} */ cron, /** @type {number} */ time) =>
  `http://127.0.0.1:${port}/__scheduled?cron=${encodeURIComponent(cron)}&time=${time}`;

async function fire(/** @type {number} */ port, /** @type {string} */ cron, /** @type {Date} */ at) {
  const stamp = at.toISOString();
  try {
    const res = await fetch(scheduledUrl(port, cron, at.getTime()));
    await res.body?.cancel();
    console.error(`[cron] ${stamp} "${cron}" → ${res.status === 200 ? "ran" : `HTTP ${res.status}`}`);
  } catch (err) {
    console.error(`[cron] ${stamp} "${cron}" → not reachable (${/** @type {any} */ (err).cause?.code ?? err})`);
  }
}

function main() {
  const split = process.argv.indexOf("--");
  if (split < 0 || split === process.argv.length - 1) {
    console.error("usage: node cli/dev-scheduler.mjs [--config wrangler.toml] -- <command that runs wrangler dev --test-scheduled>");
    process.exit(2);
  }
  const { values } = parseArgs({ args: process.argv.slice(2, split), options: { config: { type: "string", default: "wrangler.toml" } } });
  const command = process.argv.slice(split + 1);
  const port = portOf(command);
  const crons = cronsOf(readFileSync(/** @type {string} */ (values.config), "utf8"));

  const child = spawn(/** @type {string} */ (command[0]), command.slice(1), { stdio: "inherit" });
  // Cloudflare evaluates cron triggers in UTC.
  const jobs = crons.map((cron) => new Cron(cron, { timezone: "UTC", protect: true }, async (/** @type {Cron} */ job) => fire(port, cron, job.currentRun() ?? new Date())));
  for (const job of jobs) console.error(`[cron] "${job.getPattern()}" next at ${job.nextRun()?.toISOString()} (tdev cron fires it now)`);

  for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM", "SIGHUP"])) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => {
    for (const job of jobs) job.stop();
    process.exit(code ?? (signal ? 128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1) : 1));
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) main();
