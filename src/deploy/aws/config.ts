import { z } from "zod";
import { AppError } from "../../errors";
import { envValues, type Env } from "../../env";
import type { AwsTarget } from "./schema";

/** How a deployment waits and retries; every delay is jittered (see runner.ts). */
export interface DeployTiming {
  pollBaseMs: number;
  pollMaxMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Polls of one state before the deployment gives up (with the delays above, about 5 minutes by default). */
  maxPolls: number;
  /** Attempts of one AWS action (throttling, 5xx, transitional 409) before the deployment gives up. */
  maxAttempts: number;
}

export interface AwsDeployConfig {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  bedrockAgentEndpoint: string;
  agentcoreControlEndpoint: string;
  /** Path-style base URL when overridden (local fixtures, S3-compatible stores); virtual-hosted AWS S3 otherwise. */
  s3Endpoint?: string;
  bedrockRoleArn?: string;
  agentcoreRoleArn?: string;
  codeBucket?: string;
  timing: DeployTiming;
}

const nonEmpty = z.string().trim().min(1);
const endpoint = z
  .string()
  .trim()
  .url()
  .transform((u) => u.replace(/\/+$/, ""));
const intVar = (fallback: number, min: number, max: number) =>
  z.coerce
    .number()
    .int()
    .min(min)
    .max(max)
    .optional()
    .transform((v) => v ?? fallback);
const roleArn = nonEmpty.regex(/^arn:aws(-[a-z]+)*:iam::\d{12}:role\/.+$/, "must be an IAM role ARN");

const schema = z.object({
  AWS_REGION: nonEmpty.regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as us-east-1"),
  AWS_ACCESS_KEY_ID: nonEmpty,
  AWS_SECRET_ACCESS_KEY: nonEmpty,
  AWS_SESSION_TOKEN: nonEmpty.optional(),
  BEDROCK_AGENT_ENDPOINT: endpoint.optional(),
  AGENTCORE_CONTROL_ENDPOINT: endpoint.optional(),
  S3_ENDPOINT: endpoint.optional(),
  BEDROCK_AGENT_ROLE_ARN: roleArn.optional(),
  AGENTCORE_ROLE_ARN: roleArn.optional(),
  AGENTCORE_CODE_BUCKET: nonEmpty.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name").optional(),
  AWS_DEPLOY_POLL_BASE_MS: intVar(2_000, 1, 60_000),
  AWS_DEPLOY_POLL_MAX_MS: intVar(10_000, 1, 300_000),
  AWS_DEPLOY_RETRY_BASE_MS: intVar(1_000, 1, 60_000),
  AWS_DEPLOY_RETRY_MAX_MS: intVar(30_000, 1, 300_000),
  AWS_DEPLOY_MAX_POLLS: intVar(60, 1, 1_000),
  AWS_DEPLOY_MAX_ATTEMPTS: intVar(8, 1, 50),
});

/** What each target needs besides credentials. */
const NEEDS: Record<AwsTarget, (keyof z.infer<typeof schema>)[]> = {
  "bedrock-agent": ["BEDROCK_AGENT_ROLE_ARN"],
  "agentcore-runtime": ["AGENTCORE_ROLE_ARN", "AGENTCORE_CODE_BUCKET"],
};

const HOW_TO =
  "Set the AWS_REGION var and the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY secrets, plus BEDROCK_AGENT_ROLE_ARN (Bedrock Agents) or AGENTCORE_ROLE_ARN and AGENTCORE_CODE_BUCKET (AgentCore Runtime); see the README's AWS section.";

const notConfigured = (detail: string, missing: string[]) =>
  new AppError("aws_not_configured", `${detail} ${HOW_TO}`, { missing, errors: missing.map((m) => ({ path: m, message: "missing configuration" })) });

/** Reads the deployment settings for a target; answers aws-not-configured naming what is missing or wrong. */
export function awsDeployConfig(env: Env, target: AwsTarget): AwsDeployConfig {
  const raw = envValues(env, Object.keys(schema.shape));
  const missing = ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", ...NEEDS[target]].filter((k) => !raw[k]);
  if (missing.length) throw notConfigured(`Deploying to ${target} is not configured: ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} missing.`, missing);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw notConfigured(`Deploying to ${target} is misconfigured: ${issue.path.join(".")}: ${issue.message}.`, [issue.path.join(".")]);
  }
  const c = parsed.data;
  return {
    region: c.AWS_REGION,
    accessKeyId: c.AWS_ACCESS_KEY_ID,
    secretAccessKey: c.AWS_SECRET_ACCESS_KEY,
    sessionToken: c.AWS_SESSION_TOKEN,
    bedrockAgentEndpoint: c.BEDROCK_AGENT_ENDPOINT ?? `https://bedrock-agent.${c.AWS_REGION}.amazonaws.com`,
    agentcoreControlEndpoint: c.AGENTCORE_CONTROL_ENDPOINT ?? `https://bedrock-agentcore-control.${c.AWS_REGION}.amazonaws.com`,
    s3Endpoint: c.S3_ENDPOINT,
    bedrockRoleArn: c.BEDROCK_AGENT_ROLE_ARN,
    agentcoreRoleArn: c.AGENTCORE_ROLE_ARN,
    codeBucket: c.AGENTCORE_CODE_BUCKET,
    timing: {
      pollBaseMs: c.AWS_DEPLOY_POLL_BASE_MS,
      pollMaxMs: Math.max(c.AWS_DEPLOY_POLL_BASE_MS, c.AWS_DEPLOY_POLL_MAX_MS),
      retryBaseMs: c.AWS_DEPLOY_RETRY_BASE_MS,
      retryMaxMs: Math.max(c.AWS_DEPLOY_RETRY_BASE_MS, c.AWS_DEPLOY_RETRY_MAX_MS),
      maxPolls: c.AWS_DEPLOY_MAX_POLLS,
      maxAttempts: c.AWS_DEPLOY_MAX_ATTEMPTS,
    },
  };
}
