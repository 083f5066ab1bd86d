import { strToU8, zipSync } from "fflate";
import { canonicalJson } from "../../registry/canonical";
import type { AgentSpec } from "../../registry/spec";

type CodeSpec = Extract<AgentSpec, { kind: "code" }>;

/** AgentCore runs this file (codeConfiguration.entryPoint). */
export const ENTRY_POINT = "main.js";

/**
 * The Node 22 entry AgentCore runs: AgentCore's HTTP contract on 0.0.0.0:8080 — `GET /ping` and
 * `POST /invocations` — around the agent's own `run(input, ctx)`. `ctx.params` and `ctx.log`
 * behave as in the sandbox; `ctx.model` is absent and egress is not allowlisted (README).
 */
const MAIN = `import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import agentModule from "./agent.js";

const spec = JSON.parse(readFileSync(new URL("./spec.json", import.meta.url), "utf8"));
const params = Object.freeze(structuredClone(spec.params ?? {}));
const timeoutMs = spec.timeoutMs ?? 5000;
const reply = (res, status, body) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};
const log = (...args) => console.log(JSON.stringify({ agent: spec.name, version: spec.version, log: args }));

createServer(async (req, res) => {
  const path = (req.url ?? "/").split("?")[0];
  if (req.method === "GET" && path === "/ping") return reply(res, 200, { status: "Healthy" });
  if (req.method !== "POST" || path !== "/invocations") return reply(res, 404, { error: "not found" });
  let raw = "";
  for await (const chunk of req) raw += chunk;
  let input;
  try {
    input = raw ? JSON.parse(raw) : null;
  } catch {
    return reply(res, 400, { error: "the request body is not JSON" });
  }
  if (!agentModule || typeof agentModule.run !== "function") return reply(res, 500, { error: "the module's default export has no run(input, ctx)" });
  const ctx = Object.freeze({ params, log, model: undefined });
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error("the run exceeded " + timeoutMs + " ms")), timeoutMs); });
  try {
    const output = await Promise.race([agentModule.run(input, ctx), timeout]);
    reply(res, 200, { output: output === undefined ? null : output, agent: spec.name, version: spec.version });
  } catch (err) {
    reply(res, 500, { error: String(err && err.message ? err.message : err) });
  } finally {
    clearTimeout(timer);
  }
}).listen(8080, "0.0.0.0");
`;

/** A fixed timestamp, so the same spec always zips to the same bytes (and the same S3 key). */
const EPOCH = new Date("2020-01-01T00:00:00Z");

/** The zip AgentCore's direct code deploy takes: the entry, the agent's module and its spec. Pure. */
export function codeBundle(spec: CodeSpec): Uint8Array {
  const file = (text: string): [Uint8Array, { mtime: Date }] => [strToU8(text), { mtime: EPOCH }];
  return zipSync(
    {
      [ENTRY_POINT]: file(MAIN),
      "agent.js": file(spec.code),
      "spec.json": file(canonicalJson(spec)),
      "package.json": file(JSON.stringify({ name: spec.name, version: spec.version, type: "module", private: true, main: ENTRY_POINT })),
    },
    { level: 6 },
  );
}
