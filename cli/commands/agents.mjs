// Agents: list, inspect, push a spec directory, retire; channels and deployment history.
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { ApiProblem, UsageError } from "../lib/errors.mjs";
import { readJsonFile } from "../lib/input.mjs";
import { morePages, PAGE_OPTIONS, pageQuery } from "../lib/paging.mjs";
import { renderFields, shortTime } from "../lib/output.mjs";

/** The registry's limit on an agent's canonical spec, in bytes (DESIGN.md: 6.5 KB). */
export const MAX_SPEC_BYTES = 6656;

/** "2,345 of 6,656 bytes (35%)" — the size the registry measured. */
export const sizeText = (/** @type {number} */ bytes) =>
  `${bytes.toLocaleString("en-US")} of ${MAX_SPEC_BYTES.toLocaleString("en-US")} bytes (${Math.round((bytes / MAX_SPEC_BYTES) * 100)}%)`;

/**
 * The spec to publish from a directory or a spec.json: a code agent's module comes from the spec's
 * `codeFile` (a tdev-only key, removed before sending), else `agent.js` / `agent.mjs` beside it.
 */
export async function loadSpec(/** @type {string} */ target, /** @type {string | undefined} */ codeFlag, /** @type {string} */ command) {
  const specFile = existsSync(target) && statSync(target).isDirectory() ? path.join(target, "spec.json") : target;
  const { codeFile, ...spec } = await readJsonFile(specFile, command);
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) throw new UsageError(`${specFile} must hold a JSON object (an agent spec).`, command);
  const dir = path.dirname(specFile);
  const named = codeFlag ?? (typeof codeFile === "string" ? path.resolve(dir, codeFile) : undefined);
  const fallback = ["agent.js", "agent.mjs"].map((f) => path.join(dir, f)).find((f) => existsSync(f));
  const file = named ?? (spec.kind === "code" && spec.code === undefined ? fallback : undefined);
  if (file) {
    try {
      spec.code = await readFile(file, "utf8");
    } catch {
      throw new UsageError(`Cannot read the code file ${file}.`, command);
    }
  }
  if (spec.kind === "code" && typeof spec.code !== "string")
    throw new UsageError(`${specFile} is a code agent without code: add "codeFile", put agent.js beside it, or pass --code FILE.`, command);
  return { spec, specFile, codeFile: file };
}

const agentColumns = /** @type {import("../lib/output.mjs").Column[]} */ ([
  { header: "name", get: (a) => a.name },
  { header: "kind", get: (a) => a.kind },
  { header: "latest", get: (a) => a.latestVersion },
  { header: "capabilities", get: (a) => a.capabilities.join(",") },
  { header: "updated", get: (a) => shortTime(a.updatedAt) },
]);

/** @type {import("../lib/args.mjs").Command[]} */
export const agentCommands = [
  {
    name: "agents ls",
    summary: "List agents",
    options: {
      kind: { type: "string", value: "KIND", description: "code, llm or bedrock-agent" },
      capability: { type: "string", value: "CAP", description: "only agents with this capability" },
      search: { type: "string", short: "q", value: "TEXT", description: "substring of name or description" },
      ...PAGE_OPTIONS,
    },
    async run({ client, out, name }, { values }) {
      const page = await client.get("/agents", { kind: values.kind, capability: values.capability, q: values.search, ...pageQuery(values, name) });
      out.table(page.items, agentColumns, page);
      morePages(out, page);
    },
  },
  {
    name: "agents get",
    args: "<agent>",
    summary: "An agent with its channels and latest version",
    async run({ client, out }, { positionals }) {
      const a = await client.get(`/agents/${encodeURIComponent(positionals.agent)}`);
      out.result(a, () =>
        renderFields([
          ["name", a.name],
          ["id", a.id],
          ["kind", a.kind],
          ["description", a.description],
          ["capabilities", a.capabilities.join(", ")],
          [
            "channels",
            Object.entries(a.channels)
              .map(([c, v]) => `${c}=${v}`)
              .join(" "),
          ],
          ["latest", `${a.latestVersion}, ${sizeText(a.latest.sizeBytes)}, score ${a.latest.score ?? "-"}`],
          ["retired", a.retired],
          ["updated", shortTime(a.updatedAt)],
        ]),
      );
    },
  },
  {
    name: "agents versions",
    args: "<agent>",
    summary: "An agent's versions, newest first",
    options: { ...PAGE_OPTIONS },
    async run({ client, out, name }, { values, positionals }) {
      const page = await client.get(`/agents/${encodeURIComponent(positionals.agent)}/versions`, pageQuery(values, name));
      out.table(
        page.items,
        [
          { header: "version", get: (v) => v.version },
          { header: "bytes", get: (v) => v.sizeBytes, align: "right" },
          { header: "score", get: (v) => v.score, align: "right" },
          { header: "operator", get: (v) => v.operator },
          { header: "created", get: (v) => shortTime(v.createdAt) },
          { header: "by", get: (v) => v.createdBy },
        ],
        page,
      );
      morePages(out, page);
    },
  },
  {
    name: "agents push",
    args: "<dir-or-spec.json>",
    summary: "Publish spec.json (and the code file it names) as a new agent or a new version",
    description:
      'Code comes from --code, else the spec\'s "codeFile" key, else agent.js beside spec.json. The registry measures the canonical spec; it must stay within 6,656 bytes.',
    options: { code: { type: "string", value: "FILE", description: "the agent's ES module (overrides the spec's codeFile)" } },
    examples: ["tdev agents push examples/sentiment"],
    async run({ client, out, name }, { values, positionals }) {
      const { spec } = await loadSpec(positionals["dir-or-spec.json"], values.code, name);
      if (typeof spec.name !== "string") throw new UsageError("The spec has no name.", name);
      let exists = true;
      try {
        await client.get(`/agents/${encodeURIComponent(spec.name)}`);
      } catch (err) {
        if (!(err instanceof ApiProblem) || err.status !== 404) throw err;
        exists = false;
      }
      const reply = exists ? await client.request("PUT", `/agents/${encodeURIComponent(spec.name)}`, { body: spec }) : await client.request("POST", "/agents", { body: spec });
      const p = reply.data;
      out.result(p, () => `${reply.status === 201 ? "published" : "unchanged"} ${p.name}@${p.version}: ${sizeText(p.sizeBytes)}, sha256 ${p.contentHash.slice(0, 12)}…`);
    },
  },
  {
    name: "agents retire",
    args: "<agent>",
    summary: "Retire an agent (its versions are kept)",
    async run({ client, out }, { positionals }) {
      await client.del(`/agents/${encodeURIComponent(positionals.agent)}`);
      out.result({ retired: positionals.agent }, () => `retired ${positionals.agent}`);
    },
  },
  {
    name: "channel set",
    args: "<agent> <channel> <version>",
    summary: "Point a channel at a version (deploy or roll back)",
    options: { reason: { type: "string", value: "TEXT", description: "recorded in the deployment history" } },
    examples: ["tdev channel set sentiment live 1.0.0 --reason 'roll back'"],
    async run({ client, out }, { values, positionals }) {
      const { agent, channel, version } = positionals;
      const move = await client.put(`/agents/${encodeURIComponent(agent)}/channels/${encodeURIComponent(channel)}`, {
        version,
        ...(values.reason ? { reason: values.reason } : {}),
      });
      out.result(move, () => (move.moved ? `${agent} ${channel}: ${move.previous ?? "(none)"} → ${move.version}` : `${agent} ${channel} already at ${move.version}`));
    },
  },
  {
    name: "deployments",
    args: "<agent>",
    summary: "Every channel move of an agent, newest first",
    async run({ client, out }, { positionals }) {
      const page = await client.get(`/agents/${encodeURIComponent(positionals.agent)}/deployments`);
      out.table(
        page.items,
        [
          { header: "at", get: (d) => shortTime(d.at) },
          { header: "channel", get: (d) => d.channel },
          { header: "from", get: (d) => d.fromVersion ?? "" },
          { header: "to", get: (d) => d.toVersion },
          { header: "actor", get: (d) => d.actor },
          { header: "reason", get: (d) => d.reason },
        ],
        page,
      );
    },
  },
];
