import type { Squad } from "./squad/squad";
import type { RateLimiter } from "./auth/rate-limiter";
import type { BucketDecision } from "./auth/token-bucket";
import type { TopicStream } from "./messaging/stream";

/** The one environment type: bindings, secrets and vars, as wrangler.toml and `wrangler secret put` define them. */
export interface Env {
  DB: D1Database;
  SQUADS: DurableObjectNamespace<Squad>;
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  /** One per topic: the WebSocket streams of its websocket subscriptions. */
  TOPIC_STREAMS: DurableObjectNamespace<TopicStream>;
  /** Normal priority band (3–6) of the message queues; see src/messaging/address.ts. */
  MESSAGES: Queue<unknown>;
  /** High priority band (7–9). */
  MESSAGES_HIGH: Queue<unknown>;
  /** Low priority band (0–2). */
  MESSAGES_LOW: Queue<unknown>;
  /** Long suite evaluations answered 202 (src/evolution/queue.ts). */
  EVOLUTION: Queue<import("./evolution/messages").EvolutionMessage>;
  /** One Workflow instance per evolution run (src/evolution/workflow.ts). */
  EVOLUTION_RUNS: Workflow<import("./evolution/run").EvolutionRunParams>;
  LOADER: WorkerLoader;
  /** One Workflow instance per AWS deployment or rollback (src/deploy/aws/workflow.ts). */
  AWS_DEPLOYMENTS: Workflow<import("./deploy/aws/workflow").AwsDeployParams>;
  /** Daily control-plane backups (src/backup/). */
  BACKUPS: R2Bucket;
  /** Global metric counters, a few shards merged on read (src/observability/aggregator.ts). */
  METRICS: DurableObjectNamespace<import("./observability/aggregator").MetricsAggregator>;
  /** Workers Analytics Engine dataset for production dashboards; optional (src/observability/record.ts). */
  ANALYTICS?: AnalyticsEngineDataset;
  /** The dashboard's static files (public/); the asset router serves them before the Worker runs. */
  ASSETS: Fetcher;
  /** Run records whose write behind the answer failed, kept until written (src/runtime/run-buffer.ts). */
  RUN_BUFFER: DurableObjectNamespace<import("./runtime/run-buffer").RunBuffer>;
  /** The global event stream, WS /api/v1/stream (src/observability/event-hub.ts). */
  EVENT_HUB: DurableObjectNamespace<import("./observability/event-hub").EventHub>;
  /** Message receipts (effect-once claims), a few shards keyed by dedup key (src/messaging/receipts.ts). */
  RECEIPTS: DurableObjectNamespace<import("./messaging/receipts").ReceiptShard>;

  // secrets
  ADMIN_API_KEY?: string;
  JWT_SECRET?: string;
  AWS_ACCESS_KEY_ID?: string;
  AWS_SECRET_ACCESS_KEY?: string;
  AWS_SESSION_TOKEN?: string;
  MESSAGE_KEYS?: string;

  // vars
  BUILD_VERSION?: string;
  RATE_LIMIT_CAPACITY?: string;
  RATE_LIMIT_PER_MINUTE?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
  /** A JWKS document (JSON) for RS256/EdDSA tokens. */
  JWT_JWKS?: string;
  /** Or a URL to fetch the JWKS from. */
  JWT_JWKS_URL?: string;
  AWS_REGION?: string;
  BEDROCK_RUNTIME_ENDPOINT?: string;
  BEDROCK_AGENT_RUNTIME_ENDPOINT?: string;
  /** Bedrock call tuning (src/models/config.ts): attempts, backoff, breaker, per-attempt timeout. */
  BEDROCK_MAX_ATTEMPTS?: string;
  BEDROCK_RETRY_BASE_MS?: string;
  BEDROCK_RETRY_MAX_MS?: string;
  BEDROCK_BREAKER_THRESHOLD?: string;
  BEDROCK_BREAKER_COOLDOWN_MS?: string;
  BEDROCK_CALL_TIMEOUT_MS?: string;
  /** Percent of runs of a bare agent name routed to its canary channel (default 10). */
  CANARY_TRAFFIC_PERCENT?: string;
  /** First retry delay of a failed message; later retries double it. */
  MESSAGE_RETRY_BASE_SECONDS?: string;
  /** Distinct Dynamic Workers one request may have in flight (Cloudflare's cap is 4; tests lower it). */
  DYNAMIC_WORKERS_PER_REQUEST?: string;
  /** Distinct Dynamic Workers one Durable Object (a squad) may have in flight (Cloudflare's cap is 10; tests lower it). */
  DYNAMIC_WORKERS_PER_OBJECT?: string;
  /** Candidate evaluations an evolution run keeps in flight at once (default 8). */
  EVOLUTION_PARALLEL_CANDIDATES?: string;
  /** AWS deployments (src/deploy/aws/config.ts): roles, the code bucket, endpoint overrides, poll and retry timing. */
  BEDROCK_AGENT_ROLE_ARN?: string;
  AGENTCORE_ROLE_ARN?: string;
  AGENTCORE_CODE_BUCKET?: string;
  BEDROCK_AGENT_ENDPOINT?: string;
  AGENTCORE_CONTROL_ENDPOINT?: string;
  S3_ENDPOINT?: string;
  AWS_DEPLOY_POLL_BASE_MS?: string;
  AWS_DEPLOY_POLL_MAX_MS?: string;
  AWS_DEPLOY_RETRY_BASE_MS?: string;
  AWS_DEPLOY_RETRY_MAX_MS?: string;
  AWS_DEPLOY_MAX_POLLS?: string;
  AWS_DEPLOY_MAX_ATTEMPTS?: string;
  /** Daily backups kept in BACKUPS (default 14). */
  BACKUP_RETENTION?: string;
}

/** What the auth middleware establishes about the caller. */
export interface Principal {
  /** Stable id used for rate limiting and audit: `key:<id>`, `jwt:<sub>` or `admin`. */
  id: string;
  scopes: ReadonlySet<string>;
}

export interface AppEnv {
  Bindings: Env;
  /** rateLimit: set by auth when the credential's check already took the rate-limit token (API keys). */
  Variables: { principal: Principal; requestId: string; traceId: string; rateLimit?: BucketDecision };
}

/** The named env values with blank strings read as unset, for a settings schema to parse. */
export function envValues(env: Env, keys: readonly string[]): Record<string, unknown> {
  const all = env as unknown as Record<string, unknown>;
  return Object.fromEntries(keys.map((k) => [k, typeof all[k] === "string" && (all[k] as string).trim() === "" ? undefined : all[k]]));
}
