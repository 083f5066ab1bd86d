import { AwsClient } from "aws4fetch";
import { iso } from "../encoding";
import { AppError } from "../errors";
import type { Env } from "../env";
import { breakerFor } from "./breaker";
import { bedrockConfig, type BedrockConfig } from "./config";
import { backoffDelay, countsAgainstBreaker, isRetryable, type AttemptOutcome } from "./retry";
import { log } from "../observability/log";
import { countMetric, gaugeMetric } from "../observability/record";

/** Turns an AWS error code into the problem type that names it: ThrottlingException -> /problems/bedrock-throttling-exception. */
export function bedrockProblemType(awsCode: string): string {
  const kebab = awsCode
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/[^A-Za-z0-9-]+/g, "-")
    .toLowerCase();
  return `/problems/bedrock-${kebab}`;
}

/** The AWS error code of a failed response: x-amzn-ErrorType ("Code:http://…"), else the body's __type or code. */
export function awsErrorCode(headers: Headers, body: string): string {
  const fromHeader = headers.get("x-amzn-errortype")?.split(":")[0]?.trim();
  if (fromHeader) return fromHeader;
  try {
    const parsed = JSON.parse(body) as { __type?: string; code?: string };
    const raw = parsed.__type ?? parsed.code;
    if (raw) return raw.split("#").pop()!.split(":")[0]!;
  } catch {
    // not JSON: fall through
  }
  return "UnknownError";
}

function awsMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: string; Message?: string };
    return (parsed.message ?? parsed.Message ?? body).slice(0, 500);
  } catch {
    return body.slice(0, 500);
  }
}

export interface SignedCall {
  /** "runtime" for bedrock-runtime (Converse), "agent-runtime" for bedrock-agent-runtime (InvokeAgent). */
  endpoint: "runtime" | "agent-runtime";
  /** Path with each segment already URI-encoded. */
  path: string;
  body: unknown;
  /** The circuit breaker this call reports to: the model or agent id. */
  breakerKey: string;
  accept?: string;
  /** Caps the whole call, retries included (e.g. the run's remaining time). */
  deadline?: number;
}

export interface SignedResult {
  response: Response;
  attempts: number;
  latencyMs: number;
}

/** One Bedrock operation, whoever makes the request: what it is called in logs, its breaker, its deadline. */
export interface ResilientCall {
  /** The request path, for logs. */
  path: string;
  breakerKey: string;
  deadline?: number;
}

/** What one attempt answered: its value, or AWS's error. A thrown AppError is final; any other thrown error is a network error (or a timeout). */
export type AttemptResult<T> = { ok: true; value: T } | { ok: false; status: number; code: string; message: string };

/** Makes one attempt; `signal` aborts it at its timeout (`timeoutMs`). */
export type Attempt<T> = (signal: AbortSignal, timeoutMs: number) => Promise<AttemptResult<T>>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One Bedrock call with this system's resilience: a per-attempt timeout, bounded retries with
 * exponential backoff and jitter on throttling, 5xx and network errors (never on ValidationException
 * or AccessDeniedException), and the model's circuit breaker. Whatever makes the request (aws4fetch,
 * the AWS SDK) must not retry on its own: retries live here, in one place.
 */
export async function resilientBedrockCall<T>(call: ResilientCall, config: BedrockConfig, attempt: Attempt<T>): Promise<{ value: T; attempts: number; latencyMs: number }> {
  const model = call.breakerKey;
  const started = Date.now();
  try {
    const result = await callWithRetries(call, config, attempt);
    countMetric("tdev_bedrock_calls_total", { model, outcome: "success" });
    log.info("bedrock.call", { model, path: call.path, outcome: "success", attempts: result.attempts, latencyMs: result.latencyMs });
    return result;
  } catch (error) {
    const outcome = error instanceof AppError ? String(error.extra.awsErrorCode ?? error.code) : "error";
    countMetric("tdev_bedrock_calls_total", { model, outcome });
    log.warn("bedrock.call", { model, path: call.path, outcome, latencyMs: Date.now() - started, error });
    throw error;
  } finally {
    // This isolate's view of the model's breaker; the latest report from any isolate wins.
    gaugeMetric("tdev_breaker_open", { model }, breakerFor(model, config.breaker).snapshot(Date.now()).state === "open" ? 1 : 0);
  }
}

/** A SigV4-signed fetch (aws4fetch, its own retries off) with resilientBedrockCall's retries and breaker. Answers the successful response, unread. */
export async function signedBedrockCall(env: Env, call: SignedCall, config: BedrockConfig = bedrockConfig(env)): Promise<SignedResult> {
  const client = new AwsClient({
    accessKeyId: config.accessKeyId,
    secretAccessKey: config.secretAccessKey,
    sessionToken: config.sessionToken,
    service: "bedrock",
    region: config.region,
    retries: 0,
  });
  const base = call.endpoint === "runtime" ? config.runtimeEndpoint : config.agentRuntimeEndpoint;
  const { value, attempts, latencyMs } = await resilientBedrockCall<Response>(call, config, async (signal) => {
    const response = await client.fetch(`${base}${call.path}`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: call.accept ?? "application/json" },
      body: JSON.stringify(call.body),
      signal,
    });
    if (response.ok) return { ok: true, value: response };
    const text = await response.text();
    return { ok: false, status: response.status, code: awsErrorCode(response.headers, text), message: awsMessage(text) };
  });
  return { response: value, attempts, latencyMs };
}

async function callWithRetries<T>(call: ResilientCall, config: BedrockConfig, attemptOnce: Attempt<T>): Promise<{ value: T; attempts: number; latencyMs: number }> {
  const breaker = breakerFor(call.breakerKey, config.breaker);
  const started = Date.now();
  let last: { outcome: AttemptOutcome; message: string } | undefined;

  for (let attempt = 0; attempt < config.retry.maxAttempts; attempt++) {
    if (attempt > 0) {
      const delay = backoffDelay(config.retry, attempt - 1);
      if (call.deadline !== undefined && Date.now() + delay >= call.deadline) break;
      await sleep(delay);
    }
    const now = Date.now();
    if (!breaker.tryAcquire(now)) {
      const snap = breaker.snapshot(now);
      throw new AppError(
        "circuit_open",
        `The circuit breaker for ${call.breakerKey} is open after ${snap.consecutiveFailures} consecutive failures; it lets a trial call through at ${iso(snap.retryAt ?? now)}.`,
        {
          breaker: call.breakerKey,
          retryAt: snap.retryAt,
        },
      );
    }
    const remaining = call.deadline === undefined ? config.callTimeoutMs : Math.min(config.callTimeoutMs, call.deadline - now);
    if (remaining <= 0) {
      breaker.onNeutral();
      break;
    }
    let outcome: AttemptOutcome;
    let message: string;
    try {
      const result = await attemptOnce(AbortSignal.timeout(remaining), remaining);
      if (result.ok) {
        breaker.onSuccess();
        return { value: result.value, attempts: attempt + 1, latencyMs: Date.now() - started };
      }
      outcome = { kind: "aws-error", status: result.status, code: result.code };
      message = result.message;
    } catch (err) {
      // The attempt's own verdict (e.g. a malformed answer): final, and no word on the model's health.
      if (err instanceof AppError) {
        breaker.onNeutral();
        throw err;
      }
      const name = (err as Error)?.name;
      outcome = name === "TimeoutError" || name === "AbortError" ? { kind: "timeout" } : { kind: "network", message: String((err as Error)?.message ?? err) };
      message = outcome.kind === "timeout" ? `no answer within ${remaining} ms` : outcome.message;
    }
    if (countsAgainstBreaker(outcome)) breaker.onFailure(Date.now());
    else breaker.onNeutral();
    last = { outcome, message };
    if (!isRetryable(outcome)) break;
  }

  if (!last)
    throw new AppError("bedrock_error", `Bedrock call to ${call.breakerKey} ran out of time before it could be made.`, {
      type: bedrockProblemType("RequestTimeout"),
      awsErrorCode: "RequestTimeout",
    });
  const { outcome, message } = last;
  if (outcome.kind === "aws-error") {
    throw new AppError("bedrock_error", `Bedrock answered ${outcome.status} ${outcome.code} for ${call.breakerKey}: ${message}`, {
      type: bedrockProblemType(outcome.code),
      awsErrorCode: outcome.code,
      awsStatus: outcome.status,
    });
  }
  const code = outcome.kind === "timeout" ? "RequestTimeout" : "NetworkError";
  throw new AppError("bedrock_error", `Bedrock call to ${call.breakerKey} failed: ${message}.`, { type: bedrockProblemType(code), awsErrorCode: code });
}
