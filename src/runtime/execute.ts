import type { Env } from "../env";
import { AppError, type ErrorCode, type FieldError } from "../errors";
import { newId } from "../ids";
import { currentTraceId } from "../observability/context";
import type { RunUsage } from "../models/converse";
import { converse } from "../models/converse";
import { invokeAgent } from "../models/invoke-agent";
import { sizeSpec, type AgentSpec } from "../registry/spec";
import { runCodeAgent, type CodeRunOutcome } from "./code-agent";
import { RunHost } from "./host";
import { checkInput } from "./input-schema";
import { effectiveTimeout, jsonBytes } from "./limits";
import { routesToCanary } from "./resolve";
import { resolveCached } from "./resolve-cache";
import { countRun, writeRuns, type RunRecord } from "./run-records";
import { fillTemplate } from "./template";

export type { RunUsage } from "../models/converse";

export interface ExecuteRequest {
  /** "name" | "name@1.2.0" | "name#channel" */
  agent: string;
  input: unknown;
  timeoutMs?: number;
  /** Principal id. */
  actor: string;
  /** "api" | "squad:<id>" | "queue" | "evaluation" */
  source?: string;
  /** One Bedrock session per task. */
  sessionId?: string;
}

export interface RunResult {
  runId: string;
  status: "succeeded" | "failed";
  agent: string;
  version: string;
  output?: unknown;
  error?: { code: ErrorCode; detail: string; type?: string; errors?: FieldError[] };
  durationMs: number;
  usage?: RunUsage;
  limitViolation?: boolean;
}

/** Where a finished run's record goes: written before the run answers, deferred behind the answer (run-writer.ts), or collected into a batch. */
export type RunSink = (record: RunRecord) => Promise<void> | void;

/** Writes the record before the run answers: for callers that read it back at once. */
export const recordNow =
  (env: Env): RunSink =>
  (record) =>
    writeRuns(env.DB, [record]);

/** Share of runs of a bare `name` that go to its canary, when it has one (var CANARY_TRAFFIC_PERCENT, default 10). */
function canaryPercent(env: Env): number {
  const percent = Number(env.CANARY_TRAFFIC_PERCENT ?? 10);
  return Number.isFinite(percent) ? Math.min(100, Math.max(0, percent)) : 10;
}

/** Resolves the ref, runs it, hands its record to `sink` (default: written before answering). Agent failures come back as status "failed" (never thrown); only a bad/unknown ref throws AppError. */
export async function executeAgent(env: Env, req: ExecuteRequest, sink: RunSink = recordNow(env)): Promise<RunResult> {
  const toCanary = routesToCanary(canaryPercent(env));
  const resolved = await resolveCached(env.DB, req.agent, { toCanary });
  return runResolved(env, resolved, req.input, {
    actor: req.actor,
    source: req.source ?? "api",
    timeoutMs: req.timeoutMs,
    sessionId: req.sessionId,
    sink,
  });
}

/** Runs a spec that need not be registered (evaluation of evolution candidates); records the run with source "evaluation". */
export async function runSpec(
  env: Env,
  spec: AgentSpec,
  input: unknown,
  opts: { actor: string; source?: string; timeoutMs?: number; agentId?: string; sink?: RunSink },
): Promise<RunResult> {
  const sized = await sizeSpec(spec);
  return runResolved(env, { spec, contentHash: sized.contentHash, agentId: opts.agentId ?? null }, input, {
    actor: opts.actor,
    source: opts.source ?? "evaluation",
    timeoutMs: opts.timeoutMs,
    sink: opts.sink ?? recordNow(env),
  });
}

interface Resolved {
  spec: AgentSpec;
  contentHash: string;
  agentId: string | null;
}

interface RunOptions {
  actor: string;
  source: string;
  timeoutMs?: number;
  sessionId?: string;
  sink: RunSink;
}

/** How a run ended, before it is recorded. */
interface Ending {
  output?: unknown;
  error?: { code: ErrorCode; detail: string; type?: string; errors?: FieldError[] };
  usage?: RunUsage;
  modelId?: string;
  stopReason?: string;
  modelLatencyMs?: number;
  limitViolation?: boolean;
  logs?: string[];
  sessionId?: string;
}

/** Inputs are kept with the run up to this size; larger ones are recorded as their size only. */
const MAX_RECORDED_INPUT_BYTES = 64 * 1024;

const failure = (code: ErrorCode, detail: string, extra: Partial<Ending> = {}): Ending => ({ error: { code, detail }, ...extra });

function fromAppError(err: unknown): Ending {
  if (err instanceof AppError) {
    const type = typeof err.extra.type === "string" ? err.extra.type : undefined;
    return { error: { code: err.code, detail: err.detail, ...(type ? { type } : {}) } };
  }
  return failure("internal", `The run failed unexpectedly: ${String((err as Error)?.message ?? err).slice(0, 500)}`);
}

const CODE_REASONS: Record<Exclude<CodeRunOutcome, { ok: true }>["reason"], { code: ErrorCode; prefix: string; limit: boolean }> = {
  threw: { code: "agent_failed", prefix: "The agent threw: ", limit: false },
  timeout: { code: "agent_timeout", prefix: "", limit: true },
  bad_output: { code: "agent_output_invalid", prefix: "", limit: false },
  too_large: { code: "agent_output_too_large", prefix: "", limit: true },
  bad_module: { code: "agent_module_invalid", prefix: "", limit: false },
};

async function runCode(env: Env, spec: Extract<AgentSpec, { kind: "code" }>, runId: string, input: unknown, timeoutMs: number, deadline: number): Promise<Ending> {
  const host = new RunHost(env, spec.permissions, deadline);
  const outcome = await runCodeAgent(env, spec, { runId, input, timeoutMs, host });
  const last = host.calls[host.calls.length - 1];
  const shared: Partial<Ending> = {
    usage: host.usage(),
    modelId: last?.modelId,
    stopReason: last?.stopReason,
    modelLatencyMs: host.calls.length ? host.calls.reduce((t, c) => t + c.latencyMs, 0) : undefined,
    logs: outcome.logs,
    limitViolation: host.violations.length > 0,
  };
  if (outcome.ok) return { output: outcome.output, ...shared };
  // An agent that let a failed ctx.model call end its run failed because of Bedrock: say so with Bedrock's code.
  const modelFailure = outcome.reason === "threw" ? host.modelFailures.find((e) => outcome.detail.includes(e.detail)) : undefined;
  if (modelFailure) return { ...shared, ...fromAppError(modelFailure) };
  const { code, prefix, limit } = CODE_REASONS[outcome.reason];
  return { ...shared, error: { code, detail: prefix + outcome.detail }, limitViolation: limit || shared.limitViolation };
}

function numberParam(params: Record<string, unknown>, key: string): number | undefined {
  const v = params[key];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** llm agents may call their own spec.model (the spec names it); permissions.models lists what code agents may call. */
async function runLlm(env: Env, spec: Extract<AgentSpec, { kind: "llm" }>, input: unknown, deadline: number): Promise<Ending> {
  const scope = { input, params: spec.params };
  const system = typeof spec.params.system === "string" ? fillTemplate(spec.params.system, scope) : undefined;
  const budget = spec.permissions.maxTokensPerRun;
  const maxTokens = Math.max(1, Math.min(Math.floor(numberParam(spec.params, "maxTokens") ?? budget), budget));
  const temperature = numberParam(spec.params, "temperature");
  try {
    const result = await converse(env, {
      modelId: spec.model,
      messages: [{ role: "user", content: fillTemplate(spec.prompt, scope) }],
      system,
      maxTokens,
      temperature: temperature === undefined ? undefined : Math.min(1, Math.max(0, temperature)),
      deadline,
    });
    return {
      output: result.text,
      usage: result.usage,
      modelId: spec.model,
      stopReason: result.stopReason,
      modelLatencyMs: result.latencyMs,
      limitViolation: result.usage.totalTokens > budget,
    };
  } catch (err) {
    return { ...fromAppError(err), modelId: spec.model };
  }
}

/** Bedrock session ids allow [0-9a-zA-Z._:-]; a task's id is reused so all its runs share one session. */
const sessionIdFor = (requested: string | undefined, runId: string) => (requested ?? runId).replace(/[^0-9a-zA-Z._:-]/g, "-").slice(0, 100);

async function runBedrockAgent(
  env: Env,
  spec: Extract<AgentSpec, { kind: "bedrock-agent" }>,
  input: unknown,
  runId: string,
  sessionId: string | undefined,
  deadline: number,
): Promise<Ending> {
  const inputText =
    typeof input === "string"
      ? input
      : input && typeof input === "object" && typeof (input as { inputText?: unknown }).inputText === "string"
        ? (input as { inputText: string }).inputText
        : JSON.stringify(input);
  const session = sessionIdFor(sessionId, runId);
  try {
    const result = await invokeAgent(env, { agentId: spec.bedrockAgent.agentId, aliasId: spec.bedrockAgent.aliasId, sessionId: session, inputText, deadline });
    return { output: result.text, sessionId: result.sessionId, modelLatencyMs: result.latencyMs };
  } catch (err) {
    return { ...fromAppError(err), sessionId: session };
  }
}

async function runResolved(env: Env, resolved: Resolved, input: unknown, opts: RunOptions): Promise<RunResult> {
  const { spec } = resolved;
  const runId = newId("run");
  const timeoutMs = effectiveTimeout(spec.timeoutMs, opts.timeoutMs);
  const startedAt = Date.now();
  const deadline = startedAt + timeoutMs;
  let ending: Ending;
  const inputErrors = checkInput(spec.inputSchema, input);
  if (inputErrors.length) {
    const first = inputErrors[0]!;
    ending = { error: { code: "validation_failed", detail: `The input does not match the agent's inputSchema: ${first.path}: ${first.message}`, errors: inputErrors } };
  } else {
    try {
      if (spec.kind === "code") ending = await runCode(env, spec, runId, input, timeoutMs, deadline);
      else if (spec.kind === "llm") ending = await runLlm(env, spec, input, deadline);
      else ending = await runBedrockAgent(env, spec, input, runId, opts.sessionId, deadline);
    } catch (err) {
      ending = fromAppError(err);
    }
  }
  const finishedAt = Date.now();
  const durationMs = finishedAt - startedAt;
  const inputJson = JSON.stringify(input ?? null);
  const inputBytes = jsonBytes(inputJson);
  const record: RunRecord = {
    id: runId,
    agentId: resolved.agentId,
    agentName: spec.name,
    version: spec.version,
    kind: spec.kind,
    contentHash: resolved.contentHash,
    actor: opts.actor,
    source: opts.source,
    sessionId: ending.sessionId ?? opts.sessionId ?? null,
    status: ending.error ? "failed" : "succeeded",
    input: inputBytes <= MAX_RECORDED_INPUT_BYTES ? inputJson : JSON.stringify({ omitted: true, bytes: inputBytes }),
    output: ending.error ? null : JSON.stringify(ending.output ?? null),
    errorCode: ending.error?.code ?? null,
    errorType: ending.error?.type ?? null,
    errorDetail: ending.error?.detail ?? null,
    limitViolation: ending.limitViolation ?? false,
    modelId: ending.modelId ?? null,
    stopReason: ending.stopReason ?? null,
    inputTokens: ending.usage?.inputTokens ?? null,
    outputTokens: ending.usage?.outputTokens ?? null,
    totalTokens: ending.usage?.totalTokens ?? null,
    modelLatencyMs: ending.modelLatencyMs ?? null,
    logs: ending.logs?.length ? ending.logs : null,
    startedAt,
    finishedAt,
    durationMs,
    traceId: currentTraceId() ?? null,
  };
  await opts.sink(record);
  countRun(record);
  return {
    runId,
    status: ending.error ? "failed" : "succeeded",
    agent: spec.name,
    version: spec.version,
    ...(ending.error ? { error: ending.error } : { output: ending.output ?? null }),
    durationMs,
    ...(ending.usage ? { usage: ending.usage } : {}),
    ...(ending.limitViolation ? { limitViolation: true } : {}),
  };
}
