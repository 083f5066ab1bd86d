import { AppError } from "../errors";
import type { Env } from "../env";
import { signedBedrockCall } from "./client";

export interface RunUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

export interface ConverseMessage {
  role: "user" | "assistant";
  content: string;
}

export interface ConverseRequest {
  modelId: string;
  messages: ConverseMessage[];
  system?: string;
  maxTokens?: number;
  temperature?: number;
  /** Absolute time (ms) by which the call, retries included, must be over. */
  deadline?: number;
}

export interface ConverseResult {
  text: string;
  usage: RunUsage;
  stopReason: string;
  /** Measured here, from the first attempt to the answer, retries included. */
  latencyMs: number;
}

interface ConverseWire {
  output?: { message?: { content?: { text?: string }[] } };
  stopReason?: string;
  usage?: { inputTokens?: number; outputTokens?: number; totalTokens?: number };
}

/** The Converse request body in Bedrock's wire shape. */
export function converseBody(req: ConverseRequest) {
  return {
    messages: req.messages.map((m) => ({ role: m.role, content: [{ text: m.content }] })),
    ...(req.system ? { system: [{ text: req.system }] } : {}),
    ...(req.maxTokens !== undefined || req.temperature !== undefined
      ? { inferenceConfig: { ...(req.maxTokens !== undefined ? { maxTokens: req.maxTokens } : {}), ...(req.temperature !== undefined ? { temperature: req.temperature } : {}) } }
      : {}),
  };
}

/** Bedrock Converse (POST /model/{modelId}/converse) through a signed fetch; throws bedrock_not_configured, bedrock_error or circuit_open. */
export async function converse(env: Env, req: ConverseRequest): Promise<ConverseResult> {
  const { response, latencyMs } = await signedBedrockCall(env, {
    endpoint: "runtime",
    path: `/model/${encodeURIComponent(req.modelId)}/converse`,
    body: converseBody(req),
    breakerKey: req.modelId,
    deadline: req.deadline,
  });
  let wire: ConverseWire;
  try {
    wire = (await response.json()) as ConverseWire;
  } catch {
    throw new AppError("bedrock_error", `Bedrock Converse for ${req.modelId} answered a body that is not JSON.`, { type: "/problems/bedrock-malformed-response" });
  }
  const text = (wire.output?.message?.content ?? []).map((c) => c.text ?? "").join("");
  const inputTokens = wire.usage?.inputTokens ?? 0;
  const outputTokens = wire.usage?.outputTokens ?? 0;
  return {
    text,
    usage: { inputTokens, outputTokens, totalTokens: wire.usage?.totalTokens ?? inputTokens + outputTokens },
    stopReason: wire.stopReason ?? "unknown",
    latencyMs,
  };
}
