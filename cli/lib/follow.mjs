// Following something until it ends: a polling loop that Ctrl-C leaves (exit 130) without touching the server.
import { CliError, EXIT } from "./errors.mjs";

/** Thrown by the SIGINT handler's abort so a follow loop unwinds instead of exiting mid-write. */
export class Interrupted extends CliError {
  constructor(/** @type {string} */ what) {
    super(`Stopped following; ${what} goes on on the server.`, EXIT.interrupted);
    this.name = "Interrupted";
  }
}

/** An AbortSignal that fires on Ctrl-C while `fn` runs; the handler is removed afterwards. */
export async function withInterrupt(/** @type {string} */ what, /** @type {(signal: AbortSignal) => Promise<any>} */ fn) {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  try {
    const result = await fn(controller.signal);
    if (controller.signal.aborted) throw new Interrupted(what); // a stream that ends cleanly on abort
    return result;
  } catch (err) {
    if (controller.signal.aborted) throw new Interrupted(what);
    throw err;
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}

/** Waits `ms`, or rejects as soon as `signal` aborts. */
export function pause(/** @type {number} */ ms, /** @type {AbortSignal} */ signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/**
 * Polls `load` every `intervalMs` and hands each state to `onState` until `done(state)`.
 * The interval stays at or above a second: every poll spends one of the key's rate-limit tokens.
 */
export async function poll(/** @type {{ load: () => Promise<any>, onState: (state: any) => void, done: (state: any) => boolean, intervalMs?: number, signal: AbortSignal }} */ o) {
  const interval = Math.max(1000, o.intervalMs ?? 1000);
  for (;;) {
    const state = await o.load();
    o.onState(state);
    if (o.done(state)) return state;
    await pause(interval, o.signal);
  }
}
