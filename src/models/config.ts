import { z } from "zod";
import { AppError } from "../errors";
import { envValues, type Env } from "../env";

/** How to reach Bedrock: credentials, region and the two endpoints (overridable for local fixtures). */
export interface BedrockConfig {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  runtimeEndpoint: string;
  agentRuntimeEndpoint: string;
  retry: RetryPolicy;
  breaker: BreakerPolicy;
  /** Per-attempt timeout of one Bedrock call. */
  callTimeoutMs: number;
}

export interface RetryPolicy {
  /** Attempts in total, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface BreakerPolicy {
  /** Consecutive failures that open a model's breaker. */
  failureThreshold: number;
  /** How long an open breaker refuses calls before letting one trial call through. */
  cooldownMs: number;
}

const nonEmpty = z.string().trim().min(1);
const intVar = (fallback: number, min: number, max: number) =>
  z.coerce
    .number()
    .int()
    .min(min)
    .max(max)
    .optional()
    .transform((v) => v ?? fallback);
const endpoint = z
  .string()
  .trim()
  .url()
  .transform((u) => u.replace(/\/+$/, ""));

const schema = z.object({
  AWS_REGION: nonEmpty.regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as us-east-1"),
  AWS_ACCESS_KEY_ID: nonEmpty,
  AWS_SECRET_ACCESS_KEY: nonEmpty,
  AWS_SESSION_TOKEN: nonEmpty.optional(),
  BEDROCK_RUNTIME_ENDPOINT: endpoint.optional(),
  BEDROCK_AGENT_RUNTIME_ENDPOINT: endpoint.optional(),
  BEDROCK_MAX_ATTEMPTS: intVar(3, 1, 10),
  BEDROCK_RETRY_BASE_MS: intVar(200, 0, 60_000),
  BEDROCK_RETRY_MAX_MS: intVar(5_000, 0, 60_000),
  BEDROCK_BREAKER_THRESHOLD: intVar(5, 1, 1_000),
  BEDROCK_BREAKER_COOLDOWN_MS: intVar(30_000, 0, 3_600_000),
  BEDROCK_CALL_TIMEOUT_MS: intVar(30_000, 100, 300_000),
});

const HOW_TO =
  "Set the AWS_REGION var and the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY secrets (`wrangler secret put AWS_ACCESS_KEY_ID`; AWS_SESSION_TOKEN too for temporary credentials), or put them in .dev.vars for local runs.";

/** Reads the Bedrock settings from the environment; throws bedrock_not_configured with the fix when credentials are missing. */
export function bedrockConfig(env: Env): BedrockConfig {
  const raw = envValues(env, Object.keys(schema.shape));
  if (!raw.AWS_ACCESS_KEY_ID || !raw.AWS_SECRET_ACCESS_KEY || !raw.AWS_REGION) {
    const missing = ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].filter((k) => !raw[k]);
    throw new AppError("bedrock_not_configured", `Bedrock is not configured: ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} missing. ${HOW_TO}`, { missing });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError("bedrock_not_configured", `Bedrock is misconfigured: ${issue?.path.join(".")}: ${issue?.message}. ${HOW_TO}`);
  }
  const c = parsed.data;
  return {
    region: c.AWS_REGION,
    accessKeyId: c.AWS_ACCESS_KEY_ID,
    secretAccessKey: c.AWS_SECRET_ACCESS_KEY,
    sessionToken: c.AWS_SESSION_TOKEN,
    runtimeEndpoint: c.BEDROCK_RUNTIME_ENDPOINT ?? `https://bedrock-runtime.${c.AWS_REGION}.amazonaws.com`,
    agentRuntimeEndpoint: c.BEDROCK_AGENT_RUNTIME_ENDPOINT ?? `https://bedrock-agent-runtime.${c.AWS_REGION}.amazonaws.com`,
    retry: { maxAttempts: c.BEDROCK_MAX_ATTEMPTS, baseDelayMs: c.BEDROCK_RETRY_BASE_MS, maxDelayMs: c.BEDROCK_RETRY_MAX_MS },
    breaker: { failureThreshold: c.BEDROCK_BREAKER_THRESHOLD, cooldownMs: c.BEDROCK_BREAKER_COOLDOWN_MS },
    callTimeoutMs: c.BEDROCK_CALL_TIMEOUT_MS,
  };
}

/** True when model-backed features can run; code agents never need this. */
export function bedrockConfigured(env: Env): boolean {
  try {
    bedrockConfig(env);
    return true;
  } catch {
    return false;
  }
}
