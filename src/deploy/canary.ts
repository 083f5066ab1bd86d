/** Live run counts of one version over a window. */
export interface RunTally {
  succeeded: number;
  total: number;
}

export type CanaryDecision = { decision: "wait" | "promote" | "rollback"; detail: string };

const rate = (t: RunTally) => (t.total ? t.succeeded / t.total : 1);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/**
 * Canary → live: once the canary has served `window` live runs, it is promoted when its success
 * rate over them is not worse than the previous live version's over its own last `window` runs
 * (a live version with no runs counts as 100%), and rolled back otherwise.
 */
export function canaryDecision(canary: RunTally, previousLive: RunTally, window: number): CanaryDecision {
  if (canary.total < window) return { decision: "wait", detail: `canary has ${canary.total} of ${window} live runs` };
  const c = rate(canary);
  const l = rate(previousLive);
  const summary = `canary ${pct(c)} (${canary.succeeded}/${canary.total}) vs live ${pct(l)} (${previousLive.succeeded}/${previousLive.total})`;
  return c + 1e-9 >= l ? { decision: "promote", detail: `${summary}: not worse` } : { decision: "rollback", detail: `${summary}: worse` };
}
