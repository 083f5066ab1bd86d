import type { BreakerPolicy } from "./config";

export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerSnapshot {
  key: string;
  state: BreakerState;
  consecutiveFailures: number;
  openedAt: number | null;
  /** When an open breaker lets a trial call through. */
  retryAt: number | null;
  totalFailures: number;
  totalSuccesses: number;
  timesOpened: number;
}

/**
 * A per-model circuit breaker: opens after `failureThreshold` consecutive failures, refuses calls
 * for `cooldownMs`, then lets one trial call through (half-open): success closes it, failure reopens.
 */
export class CircuitBreaker {
  private state: BreakerState = "closed";
  private failures = 0;
  private openedAt: number | null = null;
  private trialInFlight = false;
  private totalFailures = 0;
  private totalSuccesses = 0;
  private timesOpened = 0;

  constructor(
    readonly key: string,
    private policy: BreakerPolicy,
  ) {}

  configure(policy: BreakerPolicy): void {
    this.policy = policy;
  }

  /** Asks to make a call now; false means the breaker refuses it. */
  tryAcquire(now: number): boolean {
    if (this.state === "closed") return true;
    if (this.state === "open") {
      if (now - (this.openedAt ?? now) < this.policy.cooldownMs) return false;
      this.state = "half-open";
      this.trialInFlight = false;
    }
    if (this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  onSuccess(): void {
    this.totalSuccesses++;
    this.failures = 0;
    this.state = "closed";
    this.openedAt = null;
    this.trialInFlight = false;
  }

  onFailure(now: number): void {
    this.totalFailures++;
    this.failures++;
    this.trialInFlight = false;
    if (this.state === "half-open" || this.failures >= this.policy.failureThreshold) {
      if (this.state !== "open") this.timesOpened++;
      this.state = "open";
      this.openedAt = now;
    }
  }

  /** A call that ended without a verdict on the model (e.g. a validation error) frees a half-open trial slot. */
  onNeutral(): void {
    this.trialInFlight = false;
  }

  snapshot(now: number): BreakerSnapshot {
    const state: BreakerState = this.state === "open" && now - (this.openedAt ?? now) >= this.policy.cooldownMs ? "half-open" : this.state;
    return {
      key: this.key,
      state,
      consecutiveFailures: this.failures,
      openedAt: this.openedAt,
      retryAt: this.state === "open" && this.openedAt !== null ? this.openedAt + this.policy.cooldownMs : null,
      totalFailures: this.totalFailures,
      totalSuccesses: this.totalSuccesses,
      timesOpened: this.timesOpened,
    };
  }
}

/** One breaker per model id, shared by every request this isolate serves. */
const breakers = new Map<string, CircuitBreaker>();

export function breakerFor(key: string, policy: BreakerPolicy): CircuitBreaker {
  let b = breakers.get(key);
  if (!b) {
    b = new CircuitBreaker(key, policy);
    breakers.set(key, b);
  } else b.configure(policy);
  return b;
}

export function breakerSnapshots(now = Date.now()): BreakerSnapshot[] {
  return [...breakers.values()].map((b) => b.snapshot(now)).sort((a, b) => a.key.localeCompare(b.key));
}
