import { exports } from "cloudflare:workers";
import type { Env } from "../env";
import { canonicalJson, sha256Hex } from "../registry/canonical";
import type { AgentSpec } from "../registry/spec";
import type { RunHost } from "./host";
import { boundedLogs, parseOutput, settledWithin } from "./limits";
import { SANDBOX_REVISION, sandboxModules, type SandboxReply, type SandboxRequest } from "./sandbox-modules";

type CodeSpec = Extract<AgentSpec, { kind: "code" }>;

/** Dynamic Workers run with this date; it must not be newer than the bundled workerd accepts. */
const SANDBOX_COMPATIBILITY_DATE = "2026-04-20";
/** Extra wall-clock time the host waits past the sandbox's own deadline before giving up on it. */
const HOST_GRACE_MS = 250;
/** How long the host waits for the lines of a run it gave up on; a sandbox still busy answers none. */
const ABANDON_WAIT_MS = 100;

/** How a code run ended, with the lines it logged (none when the sandbox never answered). */
export type CodeRunOutcome = { logs: string[] } & (
  | { ok: true; output: unknown; isolate: string }
  | { ok: false; reason: "threw" | "timeout" | "bad_output" | "too_large" | "bad_module"; detail: string; isolate?: string }
);

interface SandboxStub {
  run(request: SandboxRequest, host: RunHost | undefined): Promise<SandboxReply>;
  abandon(runId: string): Promise<unknown>;
}

interface EgressFactory {
  EgressGate(options: { props: { hosts: string[] } }): Fetcher;
}

/**
 * The isolate id: the hash of everything the Dynamic Worker is built from (code, egress hosts, CPU
 * limit) and the sandbox revision (so new host code never reuses old wrappers). Params are not in
 * it — they travel with each run — so versions and evolution children that differ only in params
 * share one warm isolate. Per-run state never lives in the isolate (see the Worker Loader docs).
 */
export const isolateId = (codeHash: string) => `agent:${SANDBOX_REVISION}:${codeHash}`;

/**
 * Hash of what shapes a code agent's Dynamic Worker, memoised per isolate (specs are immutable). Only
 * finished hashes are shared: a request that awaited another request's pending hash would continue outside
 * its own request, where workerd refuses its I/O (see registry/group-commit.ts). Two first runs of the same
 * code may both hash it; that costs microseconds.
 */
const codeHashes = new Map<string, string>();
/** The same hash by spec object: a warm run of a cached spec skips serialising its code to find the key. */
const hashBySpec = new WeakMap<CodeSpec, string>();

export async function codeHash(spec: CodeSpec): Promise<string> {
  const known = hashBySpec.get(spec);
  if (known) return known;
  const key = canonicalJson({ code: spec.code, network: spec.permissions.network, timeoutMs: spec.timeoutMs ?? null });
  let hash = codeHashes.get(key);
  if (!hash) {
    hash = await sha256Hex(key);
    if (codeHashes.size > 512) codeHashes.clear();
    codeHashes.set(key, hash);
  }
  hashBySpec.set(spec, hash);
  return hash;
}

/** The Dynamic Worker for one code agent: its modules, no env, no network unless granted. */
export function workerCode(spec: CodeSpec): WorkerLoaderWorkerCode {
  const { mainModule, modules } = sandboxModules(spec.code);
  const hosts = spec.permissions.network;
  return {
    compatibilityDate: SANDBOX_COMPATIBILITY_DATE,
    mainModule,
    modules,
    // No network unless the spec names hosts; then only through the allowlisting gate.
    globalOutbound: hosts.length ? (exports as unknown as EgressFactory).EgressGate({ props: { hosts } }) : null,
    // Nothing in env: the only capabilities are the per-run host passed to run().
    env: {},
    // Enforced by Cloudflare in production; local workerd ignores it, so the instrumented ticks stop loops there.
    limits: { cpuMs: Math.min(spec.timeoutMs ?? 5_000, 30_000) },
  };
}

const disposeReply = (reply: unknown) => (reply as Partial<Disposable> | null | undefined)?.[Symbol.dispose]?.();

/** What a run the host stopped waiting for had logged: asked of its sandbox once, briefly, never thrown. */
async function abandonedLogs(sandbox: SandboxStub, runId: string): Promise<string[]> {
  try {
    return boundedLogs(await settledWithin(sandbox.abandon(runId), ABANDON_WAIT_MS));
  } catch {
    return [];
  }
}

/** Runs one code agent in its Dynamic Worker; every way it can go wrong becomes a reason, never a throw. */
export async function runCodeAgent(env: Env, spec: CodeSpec, run: { runId: string; input: unknown; timeoutMs: number; host: RunHost }): Promise<CodeRunOutcome> {
  const worker = env.LOADER.get(isolateId(hashBySpec.get(spec) ?? (await codeHash(spec))), () => workerCode(spec));
  const sandbox = worker.getEntrypoint("AgentSandbox") as unknown as SandboxStub;
  const request: SandboxRequest = { runId: run.runId, input: run.input, params: spec.params, timeoutMs: run.timeoutMs, models: spec.permissions.models.length > 0 };
  const started = Date.now();
  let reply: SandboxReply | "timeout";
  // The host is an RPC target only a run that may call a model needs; passing it costs every run an export and its release.
  const call = sandbox.run(request, request.models ? run.host : undefined);
  try {
    reply = await settledWithin(call, run.timeoutMs + HOST_GRACE_MS);
  } catch (err) {
    const message = String((err as Error)?.message ?? err);
    // A promise that can never settle is detected by the runtime, which cancels the call.
    if (/hung|never generate a response/i.test(message)) {
      const detail = `The run never finished (it awaited something that can never settle); its limit was ${run.timeoutMs} ms.`;
      return { ok: false, reason: "timeout", detail, logs: await abandonedLogs(sandbox, run.runId) };
    }
    // A module that fails at load (a missing import such as node:fs, a top-level throw or loop) rejects the call itself.
    if (/Failed to start Worker|No such module/i.test(message)) {
      return { ok: false, reason: "bad_module", detail: `The agent module could not be loaded: ${message.replace(/^Failed to start Worker:\s*/i, "").slice(0, 1000)}`, logs: [] };
    }
    return { ok: false, reason: "threw", detail: message.slice(0, 2000), logs: [] };
  } finally {
    run.host.close();
    // A reply to a call that was passed a stub (the host) keeps it alive until disposed. Undisposed,
    // thousands pile up in one long invocation (an evolution Workflow) and workerd warns, then crashes.
    if (request.models) void call.then(disposeReply, () => undefined);
  }
  if (reply === "timeout") return { ok: false, reason: "timeout", detail: `The run did not finish within ${run.timeoutMs} ms.`, logs: await abandonedLogs(sandbox, run.runId) };
  const logs = boundedLogs(reply?.logs);
  if (Date.now() - started > run.timeoutMs + HOST_GRACE_MS) return { ok: false, reason: "timeout", detail: `The run did not finish within ${run.timeoutMs} ms.`, logs };
  if (!reply || typeof reply !== "object") return { ok: false, reason: "bad_output", detail: "The sandbox answered nothing.", logs };
  if (!reply.ok) {
    const reason = (["threw", "timeout", "bad_output", "too_large", "bad_module"] as const).find((r) => r === reply.kind) ?? "threw";
    const detail = reason === "timeout" ? `The run did not finish within ${run.timeoutMs} ms.` : String(reply.message).slice(0, 2000);
    return { ok: false, reason, detail, isolate: String(reply.isolate), logs };
  }
  const parsed = parseOutput(reply.json);
  if (!parsed.ok) return { ok: false, reason: parsed.reason, detail: parsed.detail, logs };
  return { ok: true, output: parsed.value, isolate: String(reply.isolate), logs };
}
