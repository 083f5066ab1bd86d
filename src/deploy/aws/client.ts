import { AwsClient } from "aws4fetch";
import { awsErrorCode } from "../../models/client";
import { sha256Hex } from "../../registry/canonical";
import type { AwsDeployConfig } from "./config";

/** SigV4 signing names: the control planes do not sign as their host names (aws4fetch would guess wrong). */
export type AwsService = "bedrock" | "bedrock-agentcore" | "s3";

/** One AWS request, described as data so the flows stay readable and tests can inspect it. */
export interface AwsRequest {
  service: AwsService;
  method: "GET" | "PUT" | "POST" | "DELETE";
  url: string;
  json?: unknown;
  bytes?: Uint8Array;
  headers?: Record<string, string>;
}

/**
 * What came back, as plain serialisable data (a Workflow step returns it): the body as text, or AWS's
 * error code and message with what to do about it: `retry` (429, 5xx, network), `conflict` (409: the
 * resource is in a transitional state; settle, then retry) or `fatal` (any other 4xx).
 */
export type AwsResult = { ok: true; status: number; text: string } | { ok: false; status: number; code: string; message: string; kind: "retry" | "conflict" | "fatal" };

export function classify(status: number): "retry" | "conflict" | "fatal" {
  if (status === 429 || status >= 500 || status === 0) return "retry";
  if (status === 409) return "conflict";
  return "fatal";
}

function awsMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: string; Message?: string };
    return String(parsed.message ?? parsed.Message ?? text).slice(0, 1000);
  } catch {
    // S3 answers XML: <Message>…</Message>
    return (/<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? text).slice(0, 1000);
  }
}

/** S3's error code lives in its XML body, not a header. */
const s3Code = (text: string) => /<Code>([^<]*)<\/Code>/.exec(text)?.[1];

const clients = new Map<string, AwsClient>();
function clientFor(cfg: AwsDeployConfig, service: AwsService): AwsClient {
  const key = `${service}\n${cfg.region}\n${cfg.accessKeyId}\n${cfg.sessionToken ?? ""}`;
  let client = clients.get(key);
  if (!client) {
    // retries: 0 — the Workflow retries, recording each attempt; aws4fetch would retry 10 times unseen.
    client = new AwsClient({ accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey, sessionToken: cfg.sessionToken, service, region: cfg.region, retries: 0 });
    if (clients.size > 16) clients.clear();
    clients.set(key, client);
  }
  return client;
}

/** Sends one signed request; never throws for AWS or network errors (they become a result). */
export async function send(cfg: AwsDeployConfig, req: AwsRequest, timeoutMs = 30_000): Promise<AwsResult> {
  const headers: Record<string, string> = { accept: "application/json", ...req.headers };
  let body: BodyInit | undefined;
  if (req.json !== undefined) {
    body = JSON.stringify(req.json);
    headers["content-type"] = "application/json";
  } else if (req.bytes) {
    body = req.bytes;
    // S3 checks the payload against this hash (aws4fetch would send UNSIGNED-PAYLOAD).
    if (req.service === "s3") headers["x-amz-content-sha256"] = await sha256Hex(req.bytes);
  }
  try {
    const response = await clientFor(cfg, req.service).fetch(req.url, { method: req.method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    if (response.ok) return { ok: true, status: response.status, text };
    const code = (req.service === "s3" ? s3Code(text) : undefined) ?? awsErrorCode(response.headers, text);
    return { ok: false, status: response.status, code, message: awsMessage(text), kind: classify(response.status) };
  } catch (err) {
    const name = (err as Error)?.name;
    const code = name === "TimeoutError" || name === "AbortError" ? "RequestTimeout" : "NetworkError";
    return { ok: false, status: 0, code, message: String((err as Error)?.message ?? err).slice(0, 500), kind: "retry" };
  }
}

/** AWS's idempotency token for one step of one deployment: the same step retried sends the same token. */
export const clientToken = async (deploymentId: string, step: string) => sha256Hex(`${deploymentId}:${step}`);
