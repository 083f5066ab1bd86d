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
 *
 * A lease half spent or half way to expiry is topped up in the background (`topUpFor`, `toppedUp`), so a
 * busy credential's requests keep spending locally and none waits for the bucket's object (an object far
 * from the isolate makes that the longest await a warm request can have). A top-up asks only for what refills the lease to
 * its size, so a lease never holds more than that; its tokens then live LEASE_TTL_MS from the top-up.
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
  /** The gap between the last two requests spending from it: a top-up is only for a busy credential. */
  lastGapMs?: number;
  /** A background top-up of this lease is on its way. */
  toppingUp?: boolean;
}

/** What a background top-up brings back from the bucket. */
export interface TopUpGrant<T> {
  holder: T;
  decision: BucketDecision;
  granted: number;
  askedAt: number;
  expiresAt?: number;
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
  lease.lastGapMs = now - lease.usedAt;
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

  /**
   * After a request spent from the lease: how many tokens a background top-up should ask for (0: none). A
   * top-up is for a busy credential (its last two requests closer than BUSY_GAP_MS: an idle one would only
   * lose what it leased), starts once the lease is half spent or half way to expiry, one at a time, and asks
   * for what brings it back to the size a busy credential gets next.
   */
  topUpFor(key: string, capacity: number, now = Date.now()): number {
    const lease = this.#leases.get(key);
    if (!lease || lease.toppingUp || now >= lease.expiresAt || (lease.lastGapMs ?? Number.POSITIVE_INFINITY) > BUSY_GAP_MS) return 0;
    const halfSpent = lease.tokens * 2 <= lease.size;
    const halfExpired = lease.expiresAt - now <= LEASE_TTL_MS / 2;
    if (!halfSpent && !halfExpired) return 0;
    const want = nextLeaseSize(lease, now, capacity) - lease.tokens;
    if (want < 1) return 0;
    lease.toppingUp = true;
    return want;
  }

  /**
   * Adds what a background top-up was granted to the lease (no request spends a token of it). A denial, or a
   * top-up that failed (`grant` undefined), leaves the lease to run out; the request after it asks the bucket.
   * A lease forgotten meanwhile (revocation) stays forgotten.
   */
  toppedUp(key: string, grant: TopUpGrant<T> | undefined, now = Date.now()): void {
    const lease = this.#leases.get(key);
    if (!lease) return;
    lease.toppingUp = false;
    if (!grant?.decision.allowed || grant.granted < 1) return;
    lease.tokens = (now < lease.expiresAt ? lease.tokens : 0) + grant.granted;
    lease.expiresAt = Math.min(grant.askedAt + LEASE_TTL_MS, grant.expiresAt ?? Number.POSITIVE_INFINITY);
    lease.decision = grant.decision;
    lease.holder = grant.holder;
    lease.size = Math.max(lease.size, lease.tokens);
  }

  /**
   * Starts a background top-up when the lease needs one (`topUpFor`): `ask` takes `want` tokens from the bucket and
   * resolves to the grant (undefined: nothing to add). Returns the work for the caller to hand to waitUntil, or
   * undefined when no top-up is due; a failed `ask` rejects it after clearing the lease's top-up flag.
   */
  topUpBehind(key: string, capacity: number, now: number, ask: (want: number) => Promise<TopUpGrant<T> | undefined>): Promise<void> | undefined {
    const want = this.topUpFor(key, capacity, now);
    if (want === 0) return undefined;
    return ask(want).then(
      (grant) => this.toppedUp(key, grant),
      (error: unknown) => {
        this.toppedUp(key, undefined);
        throw error;
      },
    );
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
