import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { registryDb } from "../registry/store";
import { findKeyByHash, type KeyRecord } from "./keys";
import { bucketConfigFromVars, takeTokens, takeUpTo, type BucketConfig, type BucketDecision, type BucketState } from "./token-bucket";

const BUCKET_KEY = "bucket";

/**
 * How long a take may live only in memory. Writing the bucket on every request would put a storage commit
 * (and the output gate waiting on it) on every API call; instead the first take after a flush schedules an
 * alarm and the alarm writes the bucket. The object stays in memory until then (idle eviction takes far
 * longer), so eviction loses nothing; only a crash inside this window can forget that many ms of takes.
 */
export const FLUSH_DELAY_MS = 1_000;

/**
 * How long an API key's record is trusted from memory. Revocation invalidates it at once (forgetKey); this
 * bound only matters if that invalidation call itself failed.
 */
export const KEY_RECORD_TTL_MS = 60_000;

/** How often a key's last-used time is written to D1: at most once per this interval per key. */
export const KEY_USE_RECORD_MS = 60_000;

/**
 * What an API-key request gets from its key's object in one call: the key's verdict and, if valid, a token;
 * `usedAt` when this request should record the key's use (the caller writes it off the critical path).
 */
export type KeyTake =
  | { ok: true; principalId: string; scopes: string[]; decision: BucketDecision; granted: number; expiresAt: number | null; usedAt?: number }
  | { ok: false; reason: string };

// Parsed once per isolate per distinct pair of vars, not per request.
let cachedConfig: { capacity?: string; perMinute?: string; config: BucketConfig } | undefined;

/** RATE_LIMIT_CAPACITY / RATE_LIMIT_PER_MINUTE as a bucket config (defaults 100 / 100). */
export function rateLimitConfig(env: Env): BucketConfig {
  const { RATE_LIMIT_CAPACITY: capacity, RATE_LIMIT_PER_MINUTE: perMinute } = env;
  const cached = cachedConfig;
  if (cached && cached.capacity === capacity && cached.perMinute === perMinute) return cached.config;
  const config = bucketConfigFromVars(capacity, perMinute);
  cachedConfig = { capacity, perMinute, config };
  return config;
}

/**
 * Token bucket per credential, consistent across isolates because one object owns each bucket: named by
 * principal id for the admin key and JWTs, by key hash for API keys. The bucket lives in memory for speed and
 * in SQLite-backed storage so it survives eviction. An API key's object also caches the key's D1 record, so an
 * API-key request costs one call here instead of a D1 query plus a call.
 */
export class RateLimiter extends DurableObject<Env> {
  #bucket: BucketState | undefined;
  #loaded = false;
  #dirty = false;
  #key: { record: KeyRecord | undefined; loadedAt: number } | undefined;
  #keyLoading: Promise<KeyRecord | undefined> | undefined;
  /** Bumped by forgetKey, so a D1 read that started before a revocation cannot re-cache the old record. */
  #keyGeneration = 0;
  /** The last use this object handed out for recording; the one owner of a key's throttle. */
  #lastUseRecorded: number | undefined;

  /** Takes `cost` tokens under `config` (passed per call so a change of vars applies at once). */
  take(config: BucketConfig, cost = 1): BucketDecision {
    return this.#apply((bucket, now) => takeTokens(bucket, now, config, cost)).decision;
  }

  /** Takes up to `want` tokens (at least one): a lease the calling isolate spends locally (token-lease.ts). */
  takeUpTo(config: BucketConfig, want: number): { decision: BucketDecision; granted: number } {
    const { decision, granted } = this.#apply((bucket, now) => takeUpTo(bucket, now, config, want));
    return { decision, granted };
  }

  #apply<R extends { state: BucketState; decision: BucketDecision }>(take: (bucket: BucketState | undefined, now: number) => R): R {
    if (!this.#loaded) {
      this.#bucket = this.ctx.storage.kv.get<BucketState>(BUCKET_KEY);
      this.#loaded = true;
    }
    const result = take(this.#bucket, Date.now());
    // A denial changes nothing that refill() cannot recompute from the stored state, so only takes need saving.
    if (result.decision.allowed) {
      this.#bucket = result.state;
      if (!this.#dirty) {
        this.#dirty = true;
        void this.ctx.storage.setAlarm(Date.now() + FLUSH_DELAY_MS);
      }
    }
    return result;
  }

  /** Checks the API key whose hash names this object and, if it is valid, takes up to `want` tokens (a lease) from its bucket. */
  async takeForKey(hash: string, config: BucketConfig, want = 1): Promise<KeyTake> {
    const record = await this.#keyRecord(hash);
    if (!record) return { ok: false, reason: "unknown API key" };
    if (record.revoked) return { ok: false, reason: "API key revoked" };
    const now = Date.now();
    if (record.expiresAt !== null && now >= record.expiresAt) return { ok: false, reason: "API key expired" };
    const { decision, granted } = this.takeUpTo(config, want);
    const key = { ok: true as const, principalId: `key:${record.id}`, scopes: record.scopes, decision, granted, expiresAt: record.expiresAt };
    const lastRecorded = Math.max(this.#lastUseRecorded ?? 0, record.lastUsedAt ?? 0);
    if (!decision.allowed || now - lastRecorded < KEY_USE_RECORD_MS) return key;
    this.#lastUseRecorded = now;
    return { ...key, usedAt: now };
  }

  /** Drops the cached key record; the next request reads D1 again. Called on revocation. */
  forgetKey(): void {
    this.#key = undefined;
    this.#keyLoading = undefined;
    this.#keyGeneration++;
  }

  async #keyRecord(hash: string): Promise<KeyRecord | undefined> {
    if (this.#key && Date.now() - this.#key.loadedAt < KEY_RECORD_TTL_MS) return this.#key.record;
    if (!this.#keyLoading) {
      const generation = this.#keyGeneration;
      const loading = findKeyByHash(registryDb(this.env.DB), hash).finally(() => {
        if (this.#keyLoading === loading) this.#keyLoading = undefined;
      });
      this.#keyLoading = loading;
      void loading.then(
        (record) => {
          if (generation === this.#keyGeneration) this.#key = { record, loadedAt: Date.now() };
        },
        () => {},
      );
    }
    return this.#keyLoading;
  }

  /** Writes the in-memory bucket. Idempotent; a no-op in an instance that has taken nothing since the last write. */
  override alarm(): void {
    if (!this.#dirty || !this.#bucket) return;
    this.ctx.storage.kv.put(BUCKET_KEY, this.#bucket);
    this.#dirty = false;
  }
}
