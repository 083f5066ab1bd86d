import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { takeTokens, type BucketConfig, type BucketDecision, type BucketState } from "./token-bucket";

const BUCKET_KEY = "bucket";

/**
 * How long a take may live only in memory. Writing the bucket on every request would put a storage commit
 * (and the output gate waiting on it) on every API call; instead the first take after a flush schedules an
 * alarm and the alarm writes the bucket. The object stays in memory until then (idle eviction takes far
 * longer), so eviction loses nothing; only a crash inside this window can forget that many ms of takes.
 */
export const FLUSH_DELAY_MS = 1_000;

/**
 * Token bucket per credential, consistent across isolates because one object owns each bucket
 * (the middleware addresses it by principal id). The bucket lives in memory for speed and in
 * SQLite-backed storage so it survives eviction.
 */
export class RateLimiter extends DurableObject<Env> {
  #bucket: BucketState | undefined;
  #loaded = false;
  #dirty = false;

  /** Takes `cost` tokens under `config` (passed per call so a change of vars applies at once). */
  take(config: BucketConfig, cost = 1): BucketDecision {
    if (!this.#loaded) {
      this.#bucket = this.ctx.storage.kv.get<BucketState>(BUCKET_KEY);
      this.#loaded = true;
    }
    const { state, decision } = takeTokens(this.#bucket, Date.now(), config, cost);
    // A denial changes nothing that refill() cannot recompute from the stored state, so only takes need saving.
    if (decision.allowed) {
      this.#bucket = state;
      if (!this.#dirty) {
        this.#dirty = true;
        void this.ctx.storage.setAlarm(Date.now() + FLUSH_DELAY_MS);
      }
    }
    return decision;
  }

  /** Writes the in-memory bucket. Idempotent; a no-op in an instance that has taken nothing since the last write. */
  override alarm(): void {
    if (!this.#dirty || !this.#bucket) return;
    this.ctx.storage.kv.put(BUCKET_KEY, this.#bucket);
    this.#dirty = false;
  }
}
