import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { alarmRetryDelay } from "../src/squad/alarm-retry";
import { squadStub } from "../src/squad/directory";
import type { Squad } from "../src/squad/squad";
import { createSquad, echoAgent, getTask, register, submit, waitFor } from "./squad-helpers";

/** Makes the dispatch loop's storage fail for its next `runs` alarm runs: the loop's work and the re-arm after it both throw. */
function failStorage(instance: Squad, runs: number) {
  const store = (instance as unknown as { store: Record<string, (...a: unknown[]) => unknown> }).store;
  const state = { left: runs, injected: 0, rearmBroken: false };
  const overdue = store.overdueQueued!.bind(store);
  const nextWake = store.nextWake!.bind(store);
  store.overdueQueued = (...a) => {
    if (state.left === 0) return overdue(...a);
    state.left--;
    state.injected++;
    state.rearmBroken = true;
    throw new Error("injected: SQLite storage overloaded");
  };
  store.nextWake = (...a) => {
    if (!state.rearmBroken) return nextWake(...a);
    state.rearmBroken = false;
    throw new Error("injected: SQLite storage overloaded");
  };
  return state;
}

describe("squad dispatch alarm", () => {
  it("re-arms before its risky work: seven failing alarms in a row do not stall the loop", async () => {
    await register(echoAgent("rearm-echo"));
    const squad = await createSquad({ members: [{ agent: "rearm-echo" }] });
    const stub = squadStub(env, squad);
    const state = await runInDurableObject(stub, (instance: Squad) => failStorage(instance, 7));
    const taskId = await submit(squad, { capability: "echo", input: { n: 1 } });

    // Fire each armed alarm at once instead of waiting out the backoff; an unarmed squad would stay queued.
    const task = await waitFor(
      async () => {
        await runDurableObjectAlarm(stub);
        return getTask(squad, taskId);
      },
      (t) => t.status === "completed",
    );
    expect(task.output).toEqual({ n: 1 });
    expect(await runInDurableObject(stub, () => state.injected)).toBe(7);
  });

  it("backs off exponentially from a second to the watchdog interval", () => {
    expect([1, 2, 3, 4, 7, 20].map(alarmRetryDelay)).toEqual([1_000, 2_000, 4_000, 8_000, 60_000, 60_000]);
  });
});
