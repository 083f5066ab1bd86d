import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import main from "../src/index";
import type { Env } from "../src/env";
import { QUEUE_NAMES } from "../src/messaging/address";
import { sealDraft } from "../src/messaging/producer";
import { SandboxSlots } from "../src/runtime/dynamic-workers";
import type { Squad } from "../src/squad/squad";
import { codeSpec } from "./helpers";
import { createSquad, register, submit, waitTask } from "./squad-helpers";

/** A code agent whose code (hence Dynamic Worker) is its own; it reports when it ran. */
const stampAgent = (name: string, ms = 120) =>
  codeSpec(name, "1.0.0", {
    capabilities: ["stamp"],
    code: `export default { async run() { const start = Date.now(); await new Promise((r) => setTimeout(r, ${ms})); return { agent: ${JSON.stringify(name)}, start, end: Date.now() }; } };`,
  });

interface Stamp {
  agent: string;
  start: number;
  end: number;
}

/** Most distinct agents whose runs overlapped at any instant ([start, end) intervals). */
function peakDistinct(stamps: readonly Stamp[]): number {
  return Math.max(...stamps.map((at) => new Set(stamps.filter((s) => s.start <= at.start && at.start < s.end).map((s) => s.agent)).size));
}

/** Wraps the real LOADER to count, from outside the cap, the distinct Dynamic Workers with requests in flight. */
function observedLoader(loader: WorkerLoader) {
  const inFlight = new Map<string, number>();
  let peak = 0;
  const count = (name: string, delta: number) => {
    const n = (inFlight.get(name) ?? 0) + delta;
    if (n > 0) inFlight.set(name, n);
    else inFlight.delete(name);
    peak = Math.max(peak, inFlight.size);
  };
  const wrapped: WorkerLoader = {
    get: (name, getCode) => {
      const stub = loader.get(name, getCode);
      return {
        getDurableObjectClass: (n, o) => stub.getDurableObjectClass(n, o),
        getEntrypoint: (n, o) => {
          const entry = stub.getEntrypoint(n, o) as unknown as { run(...args: unknown[]): Promise<unknown> };
          return {
            run: async (...args: unknown[]) => {
              count(name!, 1);
              try {
                return await entry.run(...args);
              } finally {
                count(name!, -1);
              }
            },
          } as never;
        },
      };
    },
    load: (code) => loader.load(code),
  };
  return { loader: wrapped, peak: () => peak };
}

describe("SandboxSlots: at most `cap` distinct sandboxes in flight", () => {
  it("shares a slot between requests to one sandbox, queues other sandboxes in arrival order", async () => {
    const slots = new SandboxSlots(2);
    const gates = new Map<string, () => void>();
    const started: string[] = [];
    const job = (sandbox: string, id: string) =>
      slots.run(sandbox, () => {
        started.push(id);
        return new Promise<void>((resolve) => gates.set(id, resolve));
      });
    const all = [job("a", "a1"), job("b", "b1"), job("a", "a2"), job("c", "c1"), job("a", "a3"), job("d", "d1")];
    await Promise.resolve();
    // a2 shares a's slot; c1 waits for a free slot, and a3 (though a is in flight) waits behind c1, so c is not starved.
    expect(started).toEqual(["a1", "b1", "a2"]);
    expect(slots.distinctInFlight).toBe(2);
    gates.get("b1")!();
    await vi.waitFor(() => expect(started).toEqual(["a1", "b1", "a2", "c1", "a3"]));
    for (const id of ["a1", "a2", "a3"]) gates.get(id)!();
    await vi.waitFor(() => expect(started.at(-1)).toBe("d1"));
    gates.get("c1")!();
    gates.get("d1")!();
    await Promise.all(all);
    expect(slots.peak).toBe(2);
    expect(slots.distinctInFlight).toBe(0);
  });

  it("releases the slot when the request fails", async () => {
    const slots = new SandboxSlots(1);
    await expect(slots.run("a", async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(slots.run("b", async () => "ran")).resolves.toBe("ran");
  });
});

describe("Dynamic Workers cap in squads and queue consumers", () => {
  it("a squad with 16 distinct code agents and maxConcurrency 32 never has more than 10 of them in flight", async () => {
    const names = Array.from({ length: 16 }, (_, i) => `dw-squad-${i}`);
    await register(...names.map((n) => stampAgent(n)));
    const squad = await createSquad({ members: names.map((agent) => ({ agent })), policy: { maxConcurrency: 32, taskTimeoutMs: 20_000, retries: 0 } });
    const single = await Promise.all([...names, ...names].map((agent) => submit(squad, { agent, input: null })));
    const consensus = await Promise.all([1, 2].map(() => submit(squad, { capability: "stamp", input: null, consensus: { n: 5, strategy: "first" } })));
    const tasks = await Promise.all([...single, ...consensus].map((id) => waitTask(squad, id)));
    expect(tasks.map((t) => t.status)).toEqual(tasks.map(() => "completed"));
    const stamps: Stamp[] = [
      ...tasks.filter((t) => !t.consensus).map((t) => t.output as Stamp),
      ...tasks.filter((t) => t.consensus).flatMap((t) => t.consensus.answers.map((a: { output: Stamp }) => a.output)),
    ];
    expect(stamps).toHaveLength(32 + 10);
    // 42 runs of 120 ms over 16 agents: unbounded, all 16 would overlap at the start.
    expect(peakDistinct(stamps)).toBeLessThanOrEqual(10);
    expect(peakDistinct(stamps)).toBeGreaterThan(1);
    const stub = env.SQUADS.get(env.SQUADS.idFromName(squad));
    const peak = await runInDurableObject(stub, (instance: Squad) => instance.sandboxes.peak);
    expect(peak).toBe(10);
  });

  it("a queue batch running 8 distinct agents keeps DYNAMIC_WORKERS_PER_REQUEST of them in flight", async () => {
    const names = Array.from({ length: 8 }, (_, i) => `dw-queue-${i}`);
    await register(...names.map((n) => stampAgent(n, 60)));
    // A cap of 100 shows what the batch does unbounded (all 8 at once), so the observer can see a breach.
    for (const [cap, expected] of [
      ["3", 3],
      ["100", 8],
    ] as const) {
      const observed = observedLoader(env.LOADER);
      const testEnv: Env = { ...env, LOADER: observed.loader, DYNAMIC_WORKERS_PER_REQUEST: cap };
      const envelopes = await Promise.all(names.map((agent) => sealDraft(env, { to: { agent }, priority: 5, payload: null, actor: "test" })));
      const ids = envelopes.map((_, i) => `dw-${cap}-${i}`);
      const batch = createMessageBatch(
        QUEUE_NAMES.normal,
        envelopes.map((envelope, i) => ({ id: ids[i]!, timestamp: new Date(), attempts: 1, body: { v: 1, envelope, deferrals: 0 } })),
      );
      const ctx = createExecutionContext();
      await main.queue(batch, testEnv, ctx);
      const result = await getQueueResult(batch, ctx);
      expect(result.explicitAcks.sort()).toEqual([...ids].sort());
      expect(observed.peak()).toBe(expected);
    }
  });
});
