import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { asInvocation } from "../src/invocation";
import { recordAfter } from "../src/runtime/run-writer";
import { runRecord } from "./helpers";

afterEach(() => {
  vi.useRealTimers();
});

const record = (id: string) => runRecord(id, { agentName: "flush", source: "queue" });

describe("batching behind the work", () => {
  it("a queue invocation writes its run records when it ends, without waiting for the window's timer", { timeout: 10_000 }, async () => {
    // Timers stand still: a window that only a timer ends would never be written.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    await asInvocation(async () => {
      recordAfter(env)(record("run_flush_1"));
      recordAfter(env)(record("run_flush_2"));
    });
    vi.useRealTimers();
    const rows = await env.DB.prepare("SELECT id FROM runs WHERE id LIKE 'run_flush_%' ORDER BY id").all();
    expect(rows.results).toEqual([{ id: "run_flush_1" }, { id: "run_flush_2" }]);
  });

  it("outside an invocation, records wait for the window (written behind the answer)", { timeout: 10_000 }, async () => {
    recordAfter(env)(record("run_window_1"));
    expect(await env.DB.prepare("SELECT id FROM runs WHERE id = 'run_window_1'").first()).toBeNull();
    await vi.waitFor(async () => expect(await env.DB.prepare("SELECT id FROM runs WHERE id = 'run_window_1'").first()).toEqual({ id: "run_window_1" }), { timeout: 5_000 });
  });
});
