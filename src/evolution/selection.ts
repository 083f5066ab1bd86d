import type { Rng } from "./prng";

/** What selection knows of an evaluated candidate. */
export interface Scored {
  id: string;
  /** Score on the suite's training cases only. */
  score: number;
  sizeBytes: number;
  /** Mean model tokens per case (0 for code agents). */
  cost: number;
}

/** Higher score first; then smaller, then cheaper, then by id so the order is total and reproducible. */
export function byFitness(a: Scored, b: Scored): number {
  return b.score - a.score || a.sizeBytes - b.sizeBytes || a.cost - b.cost || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** a dominates b: no worse on score, size and cost, and strictly better on one. */
export function dominates(a: Scored, b: Scored): boolean {
  const noWorse = a.score >= b.score && a.sizeBytes <= b.sizeBytes && a.cost <= b.cost;
  return noWorse && (a.score > b.score || a.sizeBytes < b.sizeBytes || a.cost < b.cost);
}

/** The candidates no other candidate dominates on (score up, size down, cost down). */
export function paretoFront<T extends Scored>(items: readonly T[]): T[] {
  return items.filter((a) => !items.some((b) => b !== a && dominates(b, a))).sort(byFitness);
}

/** Tournament selection: the fittest of k candidates drawn at random (with replacement). */
export function tournament<T extends Scored>(items: readonly T[], k: number, rng: Rng): T {
  let best = rng.pick(items);
  for (let i = 1; i < k; i++) {
    const challenger = rng.pick(items);
    if (byFitness(challenger, best) < 0) best = challenger;
  }
  return best;
}

export interface Selection<T> {
  survivors: T[];
  /** Why each candidate was kept or dropped, by id. */
  reasons: Map<string, { kept: boolean; reason: string }>;
}

/**
 * Survivors of a generation: the `eliteCount` fittest (elitism) plus the Pareto front of
 * (score, size, cost), at most `cap` in all. Everyone else is dropped, with the reason.
 */
export function selectSurvivors<T extends Scored>(items: readonly T[], eliteCount: number, cap: number): Selection<T> {
  const ranked = [...items].sort(byFitness);
  const reasons = new Map<string, { kept: boolean; reason: string }>();
  const survivors: T[] = [];
  ranked.slice(0, eliteCount).forEach((c, i) => {
    survivors.push(c);
    reasons.set(c.id, { kept: true, reason: `elite #${i + 1} by training score ${c.score.toFixed(3)}` });
  });
  for (const c of paretoFront(ranked)) {
    if (reasons.has(c.id) || survivors.length >= cap) continue;
    survivors.push(c);
    reasons.set(c.id, { kept: true, reason: "on the Pareto front of score, size and cost" });
  }
  const cutoff = survivors[Math.min(survivors.length, eliteCount) - 1];
  for (const c of ranked) {
    if (reasons.has(c.id)) continue;
    const dominator = ranked.find((d) => d !== c && dominates(d, c));
    reasons.set(c.id, {
      kept: false,
      reason: dominator
        ? `dominated by ${dominator.id} (score ${dominator.score.toFixed(3)} vs ${c.score.toFixed(3)})`
        : `below the elite cutoff (${cutoff ? cutoff.score.toFixed(3) : "n/a"}) and the front was full`,
    });
  }
  return { survivors, reasons };
}
