import type { Principal } from "../env";
import type { BucketDecision } from "./token-bucket";

/**
 * Rate-limit tokens leased to an isolate. A credential's bucket lives in one Durable Object, which may be
 * an ocean away from the isolate serving a request; asking it on every request puts that round trip on
 * every API call. Instead an isolate that sees a credential busy (requests closer than BUSY_GAP_MS) asks
 * for several tokens at once and spends them locally; an idle credential still takes one token per call,
 * exactly as before. Leased tokens are taken from the bucket, so the limit is never exceeded; the cost is
 * that tokens an isolate leased and did not spend are lost for LEASE_TTL_MS at most (a lease never exceeds
 * 5% of the bucket's capacity, nor MAX_LEASE). Pure apart from the per-isolate book below.
 */
export const LEASE_TTL_MS = 1_000;
export const BUSY_GAP_MS = 250;
export const MAX_LEASE = 32;
const MAX_HOLDERS = 1_000;

export interface Lease<T> {
  /** What the lease was granted to (a principal, say): served with every token spent from it. */
  holder: T;
  /** Tokens left to spend locally. */
  tokens: number;
  expiresAt: number;
  /** The bucket's answer when the lease was granted (its `remaining` excludes the leased tokens). */
  decision: BucketDecision;
  /** When the credential last made a request here, and the lease's size: the next size grows from it while busy. */
  usedAt: number;
  size: number;
}

/** How many tokens to ask for: one when the credential was idle, doubling while it stays busy, capped. */
export function nextLeaseSize(previous: Pick<Lease<unknown>, "usedAt" | "size"> | undefined, now: number, capacity: number): number {
  const cap = Math.max(1, Math.min(MAX_LEASE, Math.floor(capacity / 20)));
  if (!previous || now - previous.usedAt > BUSY_GAP_MS) return 1;
  return Math.min(cap, previous.size * 2);
}

/** Spends one leased token if the lease holds one and is live; the decision counts unspent tokens as remaining. */
export function spendLease<T>(lease: Lease<T> | undefined, now: number): BucketDecision | undefined {
  if (!lease || lease.tokens < 1 || now >= lease.expiresAt) return undefined;
  lease.tokens--;
  lease.usedAt = now;
  return { ...lease.decision, remaining: lease.decision.remaining + lease.tokens };
}

/** This isolate's leases, by credential. */
export class LeaseBook<T> {
  readonly #leases = new Map<string, Lease<T>>();

  /** A locally spent token and the lease's holder, or undefined when the bucket must be asked. */
  spend(key: string, now = Date.now()): { holder: T; decision: BucketDecision } | undefined {
    const lease = this.#leases.get(key);
    const decision = spendLease(lease, now);
    return decision && lease ? { holder: lease.holder, decision } : undefined;
  }

  /** The size to ask the bucket for next. */
  sizeFor(key: string, capacity: number, now = Date.now()): number {
    return nextLeaseSize(this.#leases.get(key), now, capacity);
  }

  /**
   * Records what the bucket granted for a request (`granted` tokens, one of them this request's) and returns
   * the request's decision. A denial drops the lease.
   */
  granted(key: string, grant: { holder: T; decision: BucketDecision; granted: number; size: number; askedAt: number; expiresAt?: number }): BucketDecision {
    if (!grant.decision.allowed || grant.granted < 1) {
      this.#leases.delete(key);
      return grant.decision;
    }
    const expiresAt = Math.min(grant.askedAt + LEASE_TTL_MS, grant.expiresAt ?? Number.POSITIVE_INFINITY);
    if (this.#leases.size >= MAX_HOLDERS && !this.#leases.has(key)) this.#leases.delete(this.#leases.keys().next().value as string);
    const lease: Lease<T> = { holder: grant.holder, tokens: grant.granted - 1, expiresAt, decision: grant.decision, usedAt: grant.askedAt, size: grant.size };
    this.#leases.set(key, lease);
    return { ...grant.decision, remaining: grant.decision.remaining + lease.tokens };
  }

  /** Drops a credential's lease (revocation): its next request asks the bucket again. */
  forget(key: string): void {
    this.#leases.delete(key);
  }
}

/** Leases by principal id, for credentials checked in the isolate (the admin key, JWTs). */
export const principalLeases = new LeaseBook<undefined>();

/** Leases by API key hash, with the key's principal: spending one skips the key's object altogether. */
export const apiKeyLeases = new LeaseBook<Principal>();
