import { AgentSyntaxError, instrumentModule } from "./instrument";
import { MAX_LOG_CHARS, MAX_LOG_ENTRIES, MAX_OUTPUT_BYTES, SYSTEM_MAX_TIMEOUT_MS } from "./limits";

/**
 * The modules of one code agent's Dynamic Worker:
 * - a state module (loaded first) that captures the intrinsics the wrapper relies on before agent
 *   code can patch them, and keeps the per-run deadlines the tick checks;
 * - a tick module re-exporting only `tick`, which the instrumented agent imports;
 * - the agent module, instrumented;
 * - the main module: a WorkerEntrypoint `AgentSandbox` with the RPC method `run(request, host)`, whose reply
 *   carries the run's log lines (`host` is passed only to runs that may call a model), and `abandon(runId)`,
 *   which hands over the lines of a run the host stopped waiting for.
 * Module names carry a random suffix so agent code cannot import the state or main module by name.
 */

/** Bumped whenever the generated modules change, so no isolate built by older code is reused. */
export const SANDBOX_REVISION = "6";

/** Operations a run may perform per millisecond of its timeout: a backstop where the clock does not advance during execution. */
const FUEL_PER_MS = 1_000_000;
/** Module evaluation (top-level agent code) gets this long before the first run. */
const STARTUP_MS = 1_000;

export interface SandboxRequest {
  runId: string;
  input: unknown;
  params: Record<string, unknown>;
  timeoutMs: number;
  /** Whether ctx.model exists: the spec's permissions name at least one model. */
  models: boolean;
}

/** Every reply carries the run's ctx.log lines, so a run that failed still shows what it logged. */
export type SandboxReply = { logs?: unknown } & (
  | { ok: true; json: string; isolate: string }
  | { ok: false; kind: "threw" | "timeout" | "bad_output" | "too_large" | "bad_module"; message: string; isolate: string }
);

const stateModule = `
const now = Date.now;
const stringify = JSON.stringify;
const freeze = Object.freeze;
const SafeError = Error;
const encoder = new TextEncoder();
const SafeMap = Map;
const mapGet = Map.prototype.get, mapSet = Map.prototype.set, mapDelete = Map.prototype.delete, mapValues = Map.prototype.values;
// Thrown by tick: a frozen plain object, so it carries no stack naming this module.
const LIMIT = freeze({ name: "CpuLimitExceeded", message: "The run exceeded its time limit." });
const runs = new SafeMap();
let ticks = 0;
let deadline = now() + ${STARTUP_MS};
let fuelLimit = ${STARTUP_MS * FUEL_PER_MS};
let expired = false;

function recompute() {
  let d = -Infinity, f = -Infinity;
  for (const r of mapValues.call(runs)) { if (r.deadline > d) d = r.deadline; if (r.fuel > f) f = r.fuel; }
  deadline = d; fuelLimit = f;
}
export function tick() {
  if (expired) throw LIMIT;
  if ((++ticks & 1023) === 0 && (ticks > fuelLimit || now() > deadline)) { expired = true; throw LIMIT; }
}
export function enter(id, timeoutMs, logs) {
  const ms = Math.min(Math.max(0, +timeoutMs || 0), ${SYSTEM_MAX_TIMEOUT_MS});
  mapSet.call(runs, id, { deadline: now() + ms, fuel: ticks + ms * ${FUEL_PER_MS}, logs });
  expired = false;
  recompute();
}
export function leave(id) { mapDelete.call(runs, id); recompute(); }
// A run the host gave up on (timed out awaiting, or cancelled as hung, so its finally never ran): its lines, once.
export function abandon(id) {
  const r = mapGet.call(runs, id);
  if (r === undefined) return [];
  leave(id);
  return r.logs;
}
export function timedOut(id, err) {
  const r = mapGet.call(runs, id);
  return err === LIMIT || expired || (r !== undefined && now() > r.deadline);
}
// ctx.model: the host answers { ok: false, code, detail } instead of throwing across RPC; the agent sees a rejection.
export async function askModel(host, req) {
  const reply = await host.model(req);
  if (!reply || reply.ok !== true) throw new SafeError("ctx.model: " + (reply ? reply.code + ": " + reply.detail : "no reply"));
  return { text: reply.text, usage: reply.usage, stopReason: reply.stopReason };
}
export { stringify, freeze, encoder };
`;

const tickModule = (stateName: string) => `export { tick } from "./${stateName}";\n`;

const mainModule = (stateName: string, isolate: string) => `
import { enter, leave, abandon, timedOut, askModel, stringify, freeze, encoder } from "./${stateName}";
import { WorkerEntrypoint } from "cloudflare:workers";
import * as agentModule from "./agent.js";
const ISOLATE = ${JSON.stringify(isolate)};
// What ctx.log returns (agents written when each line was a call to the host may still await it); frozen, as it is shared.
const SETTLED = freeze(Promise.resolve());
const describe = (e) => {
  try {
    if (e && typeof e === "object" && typeof e.message === "string") return String((e.name ? e.name + ": " : "") + e.message).slice(0, 2000);
    return String(e).slice(0, 2000);
  } catch { return "an unprintable value"; }
};
const logArg = (a) => { try { return typeof a === "string" ? a : stringify(a) ?? String(a); } catch { return describe(a); } };
// One ctx.log call's line, cut as the host would cut it (the host bounds what arrives again, whatever this sends).
const logLine = (args) => {
  let line = "";
  for (let i = 0; i < args.length; i++) line += (i ? " " : "") + logArg(args[i]);
  return line.length > ${MAX_LOG_CHARS} ? line.slice(0, ${MAX_LOG_CHARS}) + "\u2026" : line;
};

export class AgentSandbox extends WorkerEntrypoint {
  async run(request, host) {
    const { runId, input, params, timeoutMs, models } = request;
    // Lines collect here and go back with the reply (or to abandon): no call to the host per line, none kept after.
    const logs = [];
    let open = true;
    const answer = (reply) => { open = false; reply.logs = logs; return reply; };
    const fail = (kind, message) => answer({ ok: false, kind, message, isolate: ISOLATE });
    enter(runId, timeoutMs, logs);
    try {
      const agent = agentModule.default;
      if (!agent || typeof agent.run !== "function") return fail("bad_module", "The module's default export has no run(input, ctx) function.");
      const ctx = freeze({
        params: freeze(params),
        log: (...args) => { if (open && logs.length < ${MAX_LOG_ENTRIES}) logs[logs.length] = logLine(args); return SETTLED; },
        model: models ? (req) => askModel(host, req) : undefined,
      });
      let output;
      try {
        output = await agent.run(input, ctx);
      } catch (err) {
        if (timedOut(runId, err)) return fail("timeout", "The run exceeded its time limit.");
        return fail("threw", describe(err));
      }
      if (timedOut(runId)) return fail("timeout", "The run exceeded its time limit.");
      let json;
      try {
        json = stringify(output === undefined ? null : output);
      } catch (err) {
        if (timedOut(runId, err)) return fail("timeout", "The run exceeded its time limit.");
        return fail("bad_output", "The output is not JSON-serialisable: " + describe(err));
      }
      if (typeof json !== "string") return fail("bad_output", "The output is not JSON-serialisable.");
      const bytes = encoder.encode(json).byteLength;
      if (bytes > ${MAX_OUTPUT_BYTES}) return fail("too_large", "The output is " + bytes + " bytes; the limit is ${MAX_OUTPUT_BYTES}.");
      return answer({ ok: true, json, isolate: ISOLATE });
    } finally {
      open = false;
      leave(runId);
    }
  }

  abandon(runId) {
    return abandon(runId);
  }
}
export default { fetch() { return new Response("agent sandbox: call the AgentSandbox entrypoint", { status: 404 }); } };
`;

/** A module that refuses every run with the reason the agent could not be prepared. */
const brokenModule = (message: string) => `
import { WorkerEntrypoint } from "cloudflare:workers";
export class AgentSandbox extends WorkerEntrypoint {
  async run() { return { ok: false, kind: "bad_module", message: ${JSON.stringify(message)}, isolate: "none" }; }
}
export default { fetch() { return new Response("", { status: 404 }); } };
`;

export interface SandboxModules {
  mainModule: string;
  modules: Record<string, string>;
}

/** Builds the modules for one agent; a module that does not parse becomes a sandbox that explains why on every run. */
export function sandboxModules(agentCode: string): SandboxModules {
  const suffix = crypto.randomUUID().replaceAll("-", "");
  const stateName = `s_${suffix}.js`;
  const tickName = `t_${suffix.slice(0, 12)}.js`;
  const mainName = `m_${suffix}.js`;
  try {
    const agent = instrumentModule(agentCode, `__tick_${suffix.slice(0, 12)}`, `./${tickName}`);
    return {
      mainModule: mainName,
      modules: { [mainName]: mainModule(stateName, suffix), [stateName]: stateModule, [tickName]: tickModule(stateName), "agent.js": agent.code },
    };
  } catch (err) {
    if (!(err instanceof AgentSyntaxError)) throw err;
    return { mainModule: mainName, modules: { [mainName]: brokenModule(err.message) } };
  }
}
