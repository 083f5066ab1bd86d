import { waitUntil } from "cloudflare:workers";
import type { Env } from "../env";
import { log } from "../observability/log";
import type { RunSink } from "./execute";
import { writeRuns, type RunRecord } from "./run-records";

/**
 * Run records written behind the answer. A run hands its record over and answers at once; runs that
 * end within WINDOW_MS of each other in this isolate share one write (one statement), which starts
 * after the answer (waitUntil). If that write fails the records go to the RunBuffer Durable Object,
 * whose storage keeps them until its alarm writes them: nothing waits in isolate memory for a retry.
 *
 * Visibility: a record reaches D1 about WINDOW_MS plus one write after its run answered (milliseconds;
 * one primary round trip in production, well inside the 1 s GET /runs/{id} promises). Reads of runs in
 * this isolate first wait for its own writes in flight (`runsSettled`), so a client reads its own run.
 */
export const WINDOW_MS = 5;
/** A batch this large is written without waiting for the window to close. */
const MAX_BATCH = 500;

const pending = new Map<Env, RunRecord[]>();
const inFlight = new Set<Promise<unknown>>();

export const BUFFER_NAME = "run-records";

/** Writes records in one round trip; when that fails, hands them to the durable buffer. Throws only if both fail. */
export async function flushRuns(env: Env, records: RunRecord[]): Promise<"written" | "buffered"> {
  if (!records.length) return "written";
  try {
    await writeRuns(env.DB, records);
    return "written";
  } catch (error) {
    log.warn("runs.write_failed", { error, runs: records.length, next: "buffer" });
    await env.RUN_BUFFER.getByName(BUFFER_NAME).hold(records);
    return "buffered";
  }
}

function track<T>(work: Promise<T>): Promise<T> {
  inFlight.add(work);
  const done = () => inFlight.delete(work);
  work.then(done, done);
  try {
    waitUntil(work);
  } catch {
    // No request to extend (module scope): the promise still runs while the isolate lives.
  }
  return work;
}

async function flushLater(env: Env, batch: RunRecord[]): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
  await flushNow(env, batch);
}

async function flushNow(env: Env, batch: RunRecord[]): Promise<void> {
  if (pending.get(env) === batch) pending.delete(env);
  try {
    await flushRuns(env, batch);
  } catch (error) {
    // Both D1 and the buffer refused: the only loss path, so it is logged with every run id.
    log.error("runs.record_lost", { error, runIds: batch.map((r) => r.id) });
  }
}

/** The sink of runs that answer before their record is written. */
export const recordAfter =
  (env: Env): RunSink =>
  (record) => {
    let batch = pending.get(env);
    if (!batch) {
      batch = [];
      pending.set(env, batch);
      track(flushLater(env, batch));
    }
    batch.push(record);
    if (batch.length >= MAX_BATCH) {
      pending.delete(env);
      track(flushNow(env, batch.splice(0)));
    }
  };

/** Resolves when every record this isolate has handed over so far is written (or buffered). */
export async function runsSettled(): Promise<void> {
  // Every pending batch has its flush in flight already, so one snapshot covers all records so far.
  await Promise.allSettled([...inFlight]);
}
