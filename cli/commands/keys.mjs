// API keys: create (shown once), list, inspect, revoke.
import { UsageError } from "../lib/errors.mjs";
import { renderFields, shortTime } from "../lib/output.mjs";
import { morePages, PAGE_OPTIONS, pageQuery } from "../lib/paging.mjs";

const SCOPES = ["agents:read", "agents:write", "squads:run", "evolution:admin", "keys:admin"];

const keyFields = (/** @type {any} */ k) =>
  renderFields([
    ["id", k.id],
    ["name", k.name],
    ["prefix", k.prefix],
    ["scopes", k.scopes.join(" ")],
    ["created", `${shortTime(k.createdAt)} by ${k.createdBy}`],
    ["revoked", shortTime(k.revokedAt) || "no"],
  ]);

/** @type {import("../lib/args.mjs").Command[]} */
export const keyCommands = [
  {
    name: "keys create",
    args: "<name>",
    summary: "Create an API key; the key is printed once (only its SHA-256 is stored)",
    options: { scope: { type: "string", multiple: true, value: "SCOPE", description: SCOPES.join(", ") } },
    examples: ["tdev keys create ci --scope agents:read --scope squads:run", "KEY=$(tdev keys create ci --scope agents:read --json | jq -r .key)"],
    async run({ client, out, name }, { values, positionals }) {
      if (!values.scope?.length) throw new UsageError(`Give at least one --scope (${SCOPES.join(", ")}).`, name);
      const k = await client.post("/keys", { name: positionals.name, scopes: values.scope });
      out.result(k, () => k.key);
      out.note(`created key ${k.id} (${k.scopes.join(" ")}); store it now, it is not shown again`);
    },
  },
  {
    name: "keys ls",
    summary: "API keys, revoked ones included (never the key or its hash)",
    options: { ...PAGE_OPTIONS },
    async run({ client, out, name }, { values }) {
      const page = await client.get("/keys", pageQuery(values, name));
      out.table(
        page.items,
        [
          { header: "id", get: (k) => k.id },
          { header: "name", get: (k) => k.name },
          { header: "prefix", get: (k) => k.prefix },
          { header: "scopes", get: (k) => k.scopes.join(" ") },
          { header: "created", get: (k) => shortTime(k.createdAt) },
          { header: "revoked", get: (k) => shortTime(k.revokedAt) },
        ],
        page,
      );
      morePages(out, page);
    },
  },
  {
    name: "keys get",
    args: "<key-id>",
    summary: "One API key's metadata",
    async run({ client, out }, { positionals }) {
      const k = await client.get(`/keys/${encodeURIComponent(positionals["key-id"])}`);
      out.result(k, () => keyFields(k));
    },
  },
  {
    name: "keys revoke",
    args: "<key-id>",
    summary: "Revoke an API key (in force for the next request)",
    async run({ client, out }, { positionals }) {
      await client.del(`/keys/${encodeURIComponent(positionals["key-id"])}`);
      out.result({ revoked: positionals["key-id"] }, () => `revoked ${positionals["key-id"]}`);
    },
  },
];
