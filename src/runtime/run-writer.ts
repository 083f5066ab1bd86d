import type { Env } from "../env";
import { log } from "../observability/log";
import type { RunSink } from "./execute";
import { writeRuns, type RunRecord } from "./run-records";
import { extendInvocation, invocationBatch } from "../invocation";

/**
 * Run records written behind the answer. A run hands its record over and answers at once; runs that
 * end within WINDOW_MS of each other in this isolate share one write (one statement), which starts
 * after the answer (waitUntil). If that write fails the records go to the RunBuffer Durable Object,
 * whose storage keeps them until its alarm writes them: nothing waits in isolate memory for a retry.
 *
 * Visibility: a record reaches D1 at most WINDOW_MS plus one write after its run answered (one primary
 * round trip in production, well inside the 1 s GET /runs/{id} promises). A read of runs in this isolate
 * first sends the window it finds open and waits for this isolate's writes (`runsSettled`), so a client
 * reads its own run without waiting out the window.
 *
 * Why 250 ms: each write has a fixed cost (one D1 round trip; locally, 2–7 ms in the simulated D1, which
 * shares the worker's process and stalls the requests in flight meanwhile), so under load the window sets
 * how many writes a second an isolate makes. At 20 ms they took about a quarter of a warm POST /execute's
 * CPU in `npm run bench`; from 100 ms to 250 ms the p99 of warm runs at 200 a second went from 1.7× to 1.4×
 * the floor's (with the metrics window, record.ts). 250 ms plus a write to the primary from far away
 * (~200 ms) stays well inside the 1 s promise.
 */
export const WINDOW_MS = 250;
/** A batch this large is written without waiting for the window to close. */
const MAX_BATCH = 500;

/** A record handed over, with its sequence number (kept beside it rather than copied into it). */
type Held = { record: RunRecord; seq: number };

const pending = new Map<Env, Held[]>();
/** Sequence numbers of records handed over and not yet written or buffered. */
const unsettled = new Set<number>();
let lastSeq = 0;
/** How long a read of runs waits for this isolate's own writes at most. */
const SETTLE_WAIT_MS = 1_000;

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

async function flushLater(env: Env, batch: Held[]): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
  // Empty when a full batch or a read (runsSettled) has already sent it.
  if (batch.length) await flushNow(env, batch);
}

/** Sends an open window now (its timer then finds it empty). */
function flushEarly(env: Env, batch: Held[]): void {
  pending.delete(env);
  extendInvocation(flushNow(env, batch.splice(0)));
}

async function flushNow(env: Env, batch: Held[]): Promise<void> {
  if (pending.get(env) === batch) pending.delete(env);
  const records = batch.map((held) => held.record);
  try {
    await flushRuns(env, records);
  } catch (error) {
    // Both D1 and the buffer refused: the only loss path, so it is logged with every run id.
    log.error("runs.record_lost", { error, runIds: records.map((r) => r.id) });
  } finally {
    for (const r of batch) unsettled.delete(r.seq);
  }
}

/** The sink of runs that answer before their record is written. */
export const recordAfter =
  (env: Env): RunSink =>
  (record) => {
    const seq = ++lastSeq;
    unsettled.add(seq);
    // A queue invocation writes its runs' records in one statement when it ends (invocation.ts), with no timer.
    const scoped = invocationBatch<Held[]>(
      "run-records",
      () => [],
      (held) => flushNow(env, held),
    );
    if (scoped) {
      scoped.push({ record, seq });
      return;
    }
    let batch = pending.get(env);
    if (!batch) {
      batch = [];
      pending.set(env, batch);
      extendInvocation(flushLater(env, batch));
    }
    batch.push({ record, seq });
    if (batch.length >= MAX_BATCH) flushEarly(env, batch);
  };

/**
 * Resolves when every record this isolate had handed over when called is written (or buffered), or
 * after SETTLE_WAIT_MS. It polls instead of awaiting the writes' promises: those belong to the requests
 * that made them, and a request must not wait on another request's I/O.
 */
export async function runsSettled(): Promise<void> {
  const upTo = lastSeq;
  // The reader's own request sends what waits in an open window: it need not wait the window out.
  for (const [env, batch] of pending) flushEarly(env, batch);
  const deadline = Date.now() + SETTLE_WAIT_MS;
  const waiting = () => [...unsettled].some((seq) => seq <= upTo);
  while (waiting() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
}
