import { BedrockAgentRuntimeClient, BedrockAgentRuntimeServiceException, InvokeAgentCommand, type InvokeAgentCommandOutput } from "@aws-sdk/client-bedrock-agent-runtime";
import { AppError } from "../errors";
import type { Env } from "../env";
import { bedrockProblemType, resilientBedrockCall, type AttemptResult } from "./client";
import { bedrockConfig, type BedrockConfig } from "./config";
import { boundedEventFrames } from "./event-frames";

export interface InvokeAgentRequest {
  agentId: string;
  aliasId: string;
  sessionId: string;
  inputText: string;
  deadline?: number;
}

export interface InvokeAgentResult {
  text: string;
  sessionId: string;
  chunks: number;
  latencyMs: number;
}

/**
 * The SDK client as this system needs it: our endpoint and static credentials, and maxAttempts 1 so
 * that src/models/client.ts's retries and breaker stay the only ones. A middleware just above the HTTP
 * handler bounds the event stream's frames before the SDK's decoder sees a byte.
 */
export function agentRuntimeClient(config: BedrockConfig, source: string): BedrockAgentRuntimeClient {
  const client = new BedrockAgentRuntimeClient({
    region: config.region,
    endpoint: config.agentRuntimeEndpoint,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey, sessionToken: config.sessionToken },
    maxAttempts: 1,
  });
  // "low" runs innermost in the deserialize step: after the HTTP handler answers, before the SDK's deserializer reads the body.
  client.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const response = out.response as { statusCode?: number; body?: unknown };
      if (response.statusCode === 200 && response.body instanceof ReadableStream) response.body = response.body.pipeThrough(boundedEventFrames(source));
      return out;
    },
    { step: "deserialize", priority: "low", name: "tdevBoundedEventFrames" },
  );
  return client;
}

/** An error the SDK deserialized from AWS (an HTTP error or an exception event), as code, status and message. */
const awsFailure = (err: unknown) =>
  err instanceof BedrockAgentRuntimeServiceException ? { code: err.name, status: err.$metadata?.httpStatusCode ?? 0, message: err.message.slice(0, 500) } : undefined;

/** Reads the completion: `chunk` events' bytes joined into the answer; an exception event or a broken stream becomes a bedrock_error. */
async function collectCompletion(completion: InvokeAgentCommandOutput["completion"], key: string): Promise<{ text: string; chunks: number }> {
  const parts: Uint8Array[] = [];
  try {
    for await (const event of completion ?? []) {
      if (!event.chunk) continue;
      if (event.chunk.bytes) parts.push(event.chunk.bytes);
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    const aws = awsFailure(err);
    if (aws) throw new AppError("bedrock_error", `Bedrock agent ${key} streamed ${aws.code}: ${aws.message}`, { type: bedrockProblemType(aws.code), awsErrorCode: aws.code });
    const name = (err as Error)?.name;
    if (name === "TimeoutError" || name === "AbortError")
      throw new AppError("bedrock_error", `Bedrock agent ${key} stopped answering before its stream ended.`, {
        type: bedrockProblemType("RequestTimeout"),
        awsErrorCode: "RequestTimeout",
      });
    throw new AppError("bedrock_error", `Bedrock agent ${key} sent a malformed event stream: ${String((err as Error)?.message ?? err).slice(0, 300)}.`, {
      type: "/problems/bedrock-malformed-response",
    });
  }
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.byteLength;
  }
  return { text: new TextDecoder().decode(joined), chunks: parts.length };
}

/** InvokeAgent (bedrock-agent-runtime) through the AWS SDK, with our retries and breaker around the request; the answer is read after. */
export async function invokeAgent(env: Env, req: InvokeAgentRequest): Promise<InvokeAgentResult> {
  const key = `agent:${req.agentId}/${req.aliasId}`;
  const config = bedrockConfig(env);
  const client = agentRuntimeClient(config, key);
  const started = Date.now();
  const path = `/agents/${encodeURIComponent(req.agentId)}/agentAliases/${encodeURIComponent(req.aliasId)}/sessions/${encodeURIComponent(req.sessionId)}/text`;
  const { value: output } = await resilientBedrockCall(
    { path, breakerKey: key, deadline: req.deadline },
    config,
    async (abortSignal): Promise<AttemptResult<InvokeAgentCommandOutput>> => {
      try {
        const command = new InvokeAgentCommand({ agentId: req.agentId, agentAliasId: req.aliasId, sessionId: req.sessionId, inputText: req.inputText });
        return { ok: true, value: await client.send(command, { abortSignal }) };
      } catch (err) {
        const aws = awsFailure(err);
        if (aws && aws.status > 0) return { ok: false, ...aws };
        throw err;
      }
    },
  );
  const { text, chunks } = await collectCompletion(output.completion, key);
  return { text, sessionId: output.sessionId ?? req.sessionId, chunks, latencyMs: Date.now() - started };
}
