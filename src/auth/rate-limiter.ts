import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { takeTokens, type BucketConfig, type BucketDecision, type BucketState } from "./token-bucket";

const BUCKET_KEY = "bucket";

/**
 * Token bucket per credential, consistent across isolates because one object owns each bucket
 * (the middleware addresses it by principal id). The bucket lives in memory for speed and in
 * SQLite-backed storage so it survives eviction.
 */
export class RateLimiter extends DurableObject<Env> {
  #bucket: BucketState | undefined;
  #loaded = false;

  /** Takes `cost` tokens under `config` (passed per call so a change of vars applies at once). */
  take(config: BucketConfig, cost = 1): BucketDecision {
    if (!this.#loaded) {
      this.#bucket = this.ctx.storage.kv.get<BucketState>(BUCKET_KEY);
      this.#loaded = true;
    }
    const { state, decision } = takeTokens(this.#bucket, Date.now(), config, cost);
    // A denial changes nothing that refill() cannot recompute from the stored state, so only takes are written.
    if (decision.allowed) {
      this.#bucket = state;
      this.ctx.storage.kv.put(BUCKET_KEY, state);
    }
    return decision;
  }
}
