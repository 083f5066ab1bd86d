import type { Env } from "../env";
import { type Band, higherBands, queueFor } from "./address";

/**
 * Whether the bands above a consumer's have a backlog, as this isolate last learnt it. Asking a queue
 * (`Queue.metrics()`) is a round trip, and a busy consumer would ask once per batch; but every band batch
 * this isolate consumes carries its queue's backlog (`batch.metadata.metrics`), and every send it makes
 * to a band leaves that band busy. A reading younger than BACKLOG_READING_MS answers; an older one is
 * asked for again. So a higher band's messages sent by another isolate may meet at most that much more
 * lower-band work than the in-flight batch the priority guarantee already tolerates.
 */
export const BACKLOG_READING_MS = 100;

interface Reading {
  busy: boolean;
  at: number;
}

const readings = new Map<Band, Reading>();

/** Records what this isolate learnt of a band's backlog at `at` (a batch's metadata, a metrics answer). */
export function noteBacklog(band: Band, backlogCount: number, at = Date.now()): void {
  const last = readings.get(band);
  // A reading taken earlier than the one in hand (a slow metrics answer) does not replace it.
  if (!last || at >= last.at) readings.set(band, { busy: backlogCount > 0, at });
}

/** A band that was just sent `count` messages without delay has a backlog until a consumer takes them. */
export function noteSent(band: Band, count: number, at = Date.now()): void {
  if (count > 0) noteBacklog(band, count, at);
}

/** The reading of `band` if it is recent enough to act on at `now`. Pure over the readings. */
export function recentReading(band: Band, now: number): boolean | undefined {
  const r = readings.get(band);
  return r && now - r.at < BACKLOG_READING_MS ? r.busy : undefined;
}

/** Forgets every reading (tests). */
export function forgetBacklogReadings(): void {
  readings.clear();
}

/** Whether any band above `band` has a backlog: recent readings answer, the rest are asked for in parallel. */
export async function higherBandsBusy(env: Env, band: Band): Promise<boolean> {
  const now = Date.now();
  const above = higherBands(band);
  const known = above.map((b) => recentReading(b, now));
  if (known.includes(true)) return true;
  const unknown = above.filter((_, i) => known[i] === undefined);
  if (unknown.length === 0) return false;
  try {
    const metrics = await Promise.all(unknown.map((b) => queueFor(env, b).metrics()));
    unknown.forEach((b, i) => {
      noteBacklog(b, metrics[i]!.backlogCount, now);
    });
    return metrics.some((m) => m.backlogCount > 0);
  } catch (error) {
    // Metrics are an optimisation; without them the bands simply run side by side.
    console.warn(JSON.stringify({ at: "higherBandsBusy", error: String(error) }));
    return false;
  }
}
