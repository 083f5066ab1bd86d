// Who and where: login, logout, whoami, health; plus cron (fire the scheduled handler) and api (any route).
import { createInterface } from "node:readline/promises";
import { text as readAll } from "node:stream/consumers";
import { jsonOption } from "../lib/args.mjs";
import { normaliseUrl, removeConfigFile, writeConfigFile } from "../lib/config.mjs";
import { ApiProblem, CliError, EXIT } from "../lib/errors.mjs";
import { createClient } from "../lib/http.mjs";
import { millis, renderFields, shortTime } from "../lib/output.mjs";

/** The server's answer to "does this key work": health for the server, one agents:read call for the key. */
export async function probe(/** @type {import("../lib/http.mjs").Client} */ client) {
  const health = await client.get("/health");
  let access = "no key";
  if (client.key) {
    try {
      await client.get("/agents", { limit: 1 });
      access = "valid (agents:read)";
    } catch (err) {
      if (!(err instanceof ApiProblem) || (err.status !== 401 && err.status !== 403)) throw err;
      access = err.status === 401 ? "refused" : "valid, without agents:read";
    }
  }
  return { health, access };
}

/** Reads one line from a terminal without echoing it (the key is a secret): readline prints the prompt, not the typing. */
async function askSecret(/** @type {string} */ question) {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const write = /** @type {any} */ (rl)._writeToOutput;
  /** @type {any} */ (rl)._writeToOutput = (/** @type {string} */ s) => (s.startsWith(question) ? write.call(rl, s) : undefined);
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
    process.stderr.write("\n");
  }
}

// Enough of a long key to tell keys apart; nothing of a short one, which a prefix would nearly give away.
const keyHint = (/** @type {string | undefined} */ key) => (!key ? "none" : key.length >= 16 ? `${key.slice(0, 8)}… (${key.length} characters)` : `(${key.length} characters)`);

/** @type {import("../lib/args.mjs").Command[]} */
export const sessionCommands = [
  {
    name: "login",
    summary: "Save the server URL and API key to ~/.config/tdev/config.json (mode 0600)",
    description:
      "Without --key the key is read from the terminal (not echoed) or from piped stdin. The key is checked against the server before it is saved.\nFlags and TDEV_URL / TDEV_API_KEY still win over the saved file.",
    examples: ["tdev login --url http://localhost:8787 --key local-admin-key", 'echo "$KEY" | tdev login --url https://tdev.example.com'],
    async run({ out, settings }, { values }) {
      const url = values.url ? normaliseUrl(values.url) : settings.url;
      let key = values.key;
      if (!key) key = process.stdin.isTTY ? await askSecret("API key: ") : (await readAll(process.stdin)).trim();
      if (!key) throw new CliError("No key given.", EXIT.usage, ["Pass --key, type it at the prompt, or pipe it on stdin."]);
      const { access, health } = await probe(createClient({ url, key }));
      if (access === "refused") throw new CliError(`${url} refused this key.`, EXIT.auth);
      await writeConfigFile(settings.configPath, { url, key });
      out.result(
        { url, configPath: settings.configPath, access, version: health.version },
        () => `Logged in to ${url} (server ${health.version}); key ${access}. Saved to ${settings.configPath}.`,
      );
    },
  },
  {
    name: "logout",
    summary: "Delete the saved login file",
    async run({ out, settings }) {
      await removeConfigFile(settings.configPath);
      out.result({ removed: settings.configPath }, () => `Removed ${settings.configPath}.`);
    },
  },
  {
    name: "whoami",
    summary: "Show the server, where the URL and key came from, and whether the key is accepted",
    async run({ client, out, settings }) {
      const { health, access } = await probe(client);
      const report = { url: settings.url, urlFrom: settings.sources.url, key: keyHint(settings.key), keyFrom: settings.sources.key, access, server: health };
      out.result(report, () =>
        renderFields([
          ["server", `${settings.url} (from ${settings.sources.url})`],
          ["version", `${health.version}, ${health.status}`],
          ["key", `${keyHint(settings.key)} (from ${settings.sources.key})`],
          ["access", access],
        ]),
      );
      return access === "refused" ? EXIT.auth : EXIT.ok;
    },
  },
  {
    name: "health",
    summary: "Server liveness, build version and the D1 round trip (no key needed)",
    async run({ client, out }) {
      const h = await client.get("/health");
      out.result(h, () =>
        renderFields([
          ["status", h.status],
          ["version", h.version],
          ["d1", h.checks.d1.ok ? `ok, ${millis(h.checks.d1.latencyMs)}` : h.checks.d1.error],
        ]),
      );
      return h.status === "ok" ? EXIT.ok : EXIT.error;
    },
  },
  {
    name: "cron",
    summary: "Fire the scheduled handler once (evolution runs, canary reviews, receipt pruning) on a local server",
    description: "Calls /__scheduled, which `wrangler dev --test-scheduled` serves (npm start runs it so). Deployed Workers run their cron on Cloudflare's schedule instead.",
    options: { time: { type: "string", value: "ISO", description: "scheduled time to report to the handler (default now)" } },
    async run({ client, out }, { values }) {
      const time = values.time === undefined ? undefined : Date.parse(values.time);
      if (time !== undefined && Number.isNaN(time)) throw new CliError(`--time is not a date: ${values.time}`, EXIT.usage);
      const reply = await client.send("GET", `/__scheduled${time === undefined ? "" : `?time=${time}`}`);
      if (reply.status === 404)
        throw new CliError(`${client.url} does not serve /__scheduled.`, EXIT.error, [
          "Start the local system with `npm start` (it runs wrangler dev --test-scheduled); deployed Workers run cron on Cloudflare's schedule.",
        ]);
      if (reply.status >= 400)
        throw new CliError(`The scheduled handler failed (HTTP ${reply.status}).`, EXIT.error, [String(reply.data ?? "").slice(0, 500), "See the server's log for the error."]);
      out.result(
        { fired: true, status: reply.status, at: new Date(time ?? Date.now()).toISOString() },
        () => `Scheduled handler ran (${String(reply.data ?? "").trim() || reply.status}).`,
      );
    },
  },
  {
    name: "breakers",
    summary: "Circuit breakers of Bedrock models and agents, as the answering isolate sees them",
    async run({ client, out }) {
      const page = await client.get("/models/breakers");
      out.table(
        page.items,
        [
          { header: "key", get: (b) => b.key },
          { header: "state", get: (b) => b.state, color: (t) => out.colors.status(t) },
          { header: "failures", get: (b) => b.consecutiveFailures, align: "right" },
          { header: "opened", get: (b) => b.timesOpened, align: "right" },
          { header: "retry at", get: (b) => (b.retryAt ? shortTime(new Date(b.retryAt).toISOString()) : "") },
        ],
        page,
      );
    },
  },
  {
    name: "api",
    args: "<method> <path>",
    summary: "Call any API route (path under /api/v1) and print the JSON answer",
    options: { data: { type: "string", value: "JSON", description: "request body" } },
    examples: ["tdev api GET /agents", "tdev api POST /evolution/canaries/review"],
    async run({ client, out, name }, { values, positionals }) {
      const body = jsonOption(values.data, "data", name);
      const route = String(positionals.path).replace(/^\/api\/v1/, "");
      const reply = await client.request(String(positionals.method).toUpperCase(), route.startsWith("/") ? route : `/${route}`, { body });
      out.result(reply.data, () => (typeof reply.data === "string" ? reply.data : (JSON.stringify(reply.data, null, 2) ?? `HTTP ${reply.status}`)));
    },
  },
];
