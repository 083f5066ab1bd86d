import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { flushRunRecords, recordAfter } from "../src/runtime/run-writer";

afterEach(() => {
  vi.useRealTimers();
});

const record = (id: string) => ({
  id, agentId: null, agentName: "flush", version: "1.0.0", kind: "code" as const, contentHash: "h", actor: "test", source: "queue", sessionId: null, status: "succeeded" as const,
  input: "null", output: "null", errorCode: null, errorType: null, errorDetail: null, limitViolation: false, modelId: null, stopReason: null, inputTokens: null, outputTokens: null,
  totalTokens: null, modelLatencyMs: null, logs: null, startedAt: 1, finishedAt: 2, durationMs: 1, traceId: null,
});

describe("batching windows", () => {
  it("flushRunRecords writes pending run records without waiting for the window's timer", { timeout: 10_000 }, async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    recordAfter(env)(record("run_flush_1"));
    flushRunRecords();
    vi.useRealTimers();
    await vi.waitFor(async () => expect(await env.DB.prepare("SELECT id FROM runs WHERE id = 'run_flush_1'").first()).toEqual({ id: "run_flush_1" }), { timeout: 5_000 });
  });
});
