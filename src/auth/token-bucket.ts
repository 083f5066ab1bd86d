/** Token bucket arithmetic. Pure: the RateLimiter Durable Object only stores the state and calls this. */

export interface BucketConfig {
  /** Most tokens the bucket holds: the largest burst. */
  capacity: number;
  /** Tokens added per minute, continuously (a fraction of a token per millisecond). */
  refillPerMinute: number;
}

export interface BucketState {
  tokens: number;
  /** When `tokens` was last computed, in ms since the epoch. */
  updatedAt: number;
}

export interface BucketDecision {
  allowed: boolean;
  limit: number;
  /** Whole tokens left after this take. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** Seconds until a denied take of the same cost would succeed; 0 when allowed. */
  retryAfterSeconds: number;
}

export const DEFAULT_BUCKET: BucketConfig = { capacity: 100, refillPerMinute: 100 };

/** Reads RATE_LIMIT_CAPACITY / RATE_LIMIT_PER_MINUTE; a malformed value is a deployment error, not something to guess around. */
export function bucketConfigFromVars(capacity: string | undefined, perMinute: string | undefined): BucketConfig {
  const parse = (name: string, raw: string | undefined, fallback: number) => {
    if (raw === undefined || raw.trim() === "") return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    return value;
  };
  return {
    capacity: parse("RATE_LIMIT_CAPACITY", capacity, DEFAULT_BUCKET.capacity),
    refillPerMinute: parse("RATE_LIMIT_PER_MINUTE", perMinute, DEFAULT_BUCKET.refillPerMinute),
  };
}

/** Tokens in the bucket at `now`: what was there plus what dripped in since, never above capacity. */
export function refill(state: BucketState | undefined, now: number, config: BucketConfig): BucketState {
  if (!state) return { tokens: config.capacity, updatedAt: now };
  // A clock that steps backwards must not take tokens away.
  const elapsedMs = Math.max(0, now - state.updatedAt);
  const tokens = Math.min(config.capacity, state.tokens + (elapsedMs * config.refillPerMinute) / 60_000);
  return { tokens, updatedAt: Math.max(now, state.updatedAt) };
}

/**
 * Takes `cost` tokens if the bucket holds them. A denied take leaves the bucket as it was
 * (refilled), so hammering a full limiter does not push the reset further away.
 */
export function takeTokens(state: BucketState | undefined, now: number, config: BucketConfig, cost = 1): { state: BucketState; decision: BucketDecision } {
  if (!(config.capacity >= 1 && config.refillPerMinute > 0)) throw new RangeError("capacity must be >= 1 and refillPerMinute > 0");
  if (!(cost > 0 && cost <= config.capacity)) throw new RangeError(`cost must be in (0, ${config.capacity}], got ${cost}`);
  const current = refill(state, now, config);
  const allowed = current.tokens >= cost;
  const next = allowed ? { tokens: current.tokens - cost, updatedAt: current.updatedAt } : current;
  const msPerToken = 60_000 / config.refillPerMinute;
  return {
    state: next,
    decision: {
      allowed,
      limit: config.capacity,
      remaining: Math.floor(next.tokens),
      resetSeconds: Math.ceil(((config.capacity - next.tokens) * msPerToken) / 1000),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(((cost - next.tokens) * msPerToken) / 1000)),
    },
  };
}

/**
 * Takes as many of `want` tokens as the bucket holds (at least one, else it is a denial): a lease of
 * tokens for an isolate to spend locally (token-lease.ts). `granted` is how many were taken.
 */
export function takeUpTo(state: BucketState | undefined, now: number, config: BucketConfig, want: number): { state: BucketState; decision: BucketDecision; granted: number } {
  const available = Math.floor(refill(state, now, config).tokens);
  const cost = Math.max(1, Math.min(Math.floor(want), available, config.capacity));
  const taken = takeTokens(state, now, config, cost);
  return { ...taken, granted: taken.decision.allowed ? cost : 0 };
}
