import type { Rng } from "./prng";

/**
 * Minibatch screening: before a child costs a full training evaluation, it runs on a few cases —
 * those its parent failed (where a change can show) plus a seeded sample of the rest (where a
 * change can break things) — and goes on only if it does no worse than its parent there.
 */

export interface ScreenOptions {
  /** At most this many of the parent's failed cases (score < 1). */
  maxFailed: number;
  /** This many of the other training cases, drawn at random. */
  sampleSize: number;
}

export const DEFAULT_SCREEN: ScreenOptions = { maxFailed: 8, sampleSize: 6 };

const EPS = 1e-9;

/** Fisher–Yates on a copy: a seeded order, so re-planning draws the same cases. */
function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The minibatch for a child of a parent with these training-case scores, in train-id order. */
export function screeningCases(parentCaseScores: Record<string, number>, trainIds: readonly string[], opts: ScreenOptions, rng: Rng): string[] {
  const ordered = [...trainIds].sort();
  const failed = ordered.filter((id) => (parentCaseScores[id] ?? 0) < 1 - EPS);
  const passed = ordered.filter((id) => (parentCaseScores[id] ?? 0) >= 1 - EPS);
  const chosenFailed = failed.length > opts.maxFailed ? shuffled(failed, rng).slice(0, opts.maxFailed) : failed;
  const chosen = new Set([...chosenFailed, ...shuffled(passed, rng).slice(0, opts.sampleSize)]);
  return ordered.filter((id) => chosen.has(id));
}

const meanOn = (scores: Record<string, number>, ids: readonly string[]) => (ids.length ? ids.reduce((s, id) => s + (scores[id] ?? 0), 0) / ids.length : 0);

/** Whether the child may go on to the full evaluation: its minibatch mean is at least its parent's. */
export function passesScreen(child: Record<string, number>, parent: Record<string, number>, caseIds: readonly string[]): { pass: boolean; child: number; parent: number } {
  const c = meanOn(child, caseIds);
  const p = meanOn(parent, caseIds);
  return { pass: c >= p - EPS, child: c, parent: p };
}
