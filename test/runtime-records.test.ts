import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import { runSuite } from "../src/evaluation/evaluate";
import { sandboxRunner } from "../src/evaluation/runner";
import { caseSchema } from "../src/evaluation/suite";
import { agentSpecSchema } from "../src/registry/spec";
import { executeAgent } from "../src/runtime/execute";
import { retryDelayMs } from "../src/runtime/run-buffer";
import { chunkRows, writeRuns } from "../src/runtime/run-records";
import { BUFFER_NAME, flushRuns, recordAfter, runsSettled, WINDOW_MS } from "../src/runtime/run-writer";
import { getRun } from "../src/runtime/runs";
import { countingD1 } from "./counting-d1";
import { failingD1 } from "./faulty-d1";
import { api, codeSpec, runRecord } from "./helpers";

const workerEnv = env as unknown as Env;

/** Retries an assertion until it holds (or throws its last failure after `ms`). */
async function eventually(assertion: () => Promise<unknown>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe("run records in batches", () => {
  it("packs rows into as few JSON parameters as fit, never splitting or losing one", () => {
    const rows = Array.from({ length: 50 }, (_, i) => runRecord(`run_chunk_${i}`, { output: JSON.stringify("x".repeat(1000)) }));
    const chunks = chunkRows(rows, 10_000);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.every((c) => new TextEncoder().encode(c).byteLength <= 10_000)).toBe(true);
    // Each row is an array of its column values; its id is the one that names it.
    const ids = chunks.flatMap((c) => JSON.parse(c) as unknown[][]).map((r) => r.find((v) => typeof v === "string" && v.startsWith("run_chunk_")));
    expect(ids).toEqual(rows.map((r) => r.id));
    expect(chunkRows([])).toEqual([]);
  });

  it("writes 300 runs of 27 columns in one statement, every field intact, and a repeat changes nothing", async () => {
    const rows = Array.from({ length: 300 }, (_, i) =>
      runRecord(
        `run_many_${String(i).padStart(3, "0")}`,
        i % 2
          ? {
              status: "failed",
              output: null,
              errorCode: "agent_failed",
              errorDetail: "boom",
              limitViolation: true,
              logs: ["a", `line ${i}`],
              totalTokens: 7,
              inputTokens: 3,
              outputTokens: 4,
            }
          : {},
      ),
    );
    const { db, trips } = countingD1(workerEnv.DB);
    await writeRuns(db, rows);
    expect(trips).toEqual([{ batch: 1 }]);
    await writeRuns(db, rows.slice(0, 10));
    const stored = await workerEnv.DB.prepare("SELECT count(*) AS n FROM runs WHERE id LIKE 'run_many_%'").first<{ n: number }>();
    expect(stored?.n).toBe(300);
    expect(await getRun(workerEnv.DB, "run_many_001")).toMatchObject({
      status: "failed",
      limitViolation: true,
      logs: ["a", "line 1"],
      usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 },
      error: { code: "agent_failed", detail: "boom" },
      input: { n: "run_many_001" },
      output: null,
    });
    expect(await getRun(workerEnv.DB, "run_many_000")).toMatchObject({ status: "succeeded", limitViolation: false, logs: [], usage: null, output: "ok" });
  });

  it("records every case run of a suite in one D1 round trip", async () => {
    const spec = agentSpecSchema.parse(codeSpec("batched-eval", "1.0.0", { code: "export default { async run(input) { return input * 2; } };" }));
    const cases = Array.from({ length: 40 }, (_, i) => caseSchema.parse({ id: `c${i}`, input: i, checks: [{ type: "equals", value: i * 2 }] }));
    const { db, trips } = countingD1(workerEnv.DB);
    const results = await runSuite(spec, { cases, judges: undefined }, sandboxRunner({ ...workerEnv, DB: db }, { actor: "test:batched" }));
    expect(results.every((r) => r.score === 1)).toBe(true);
    expect(trips).toEqual([{ batch: 1 }]);
    const stored = await workerEnv.DB.prepare("SELECT count(*) AS n FROM runs WHERE actor = 'test:batched' AND source = 'evaluation'").first<{ n: number }>();
    expect(stored?.n).toBe(40);
  });
});

describe("run records behind the answer", () => {
  it("keeps a run record whose first write failed in the RunBuffer, whose alarm writes it", async () => {
    await api("POST", "/api/v1/agents", { body: codeSpec("survivor") });
    const faulty = failingD1(workerEnv.DB, /INSERT OR IGNORE INTO runs/, 1);
    const faultyEnv = { ...workerEnv, DB: faulty.db };
    const result = await executeAgent(faultyEnv, { agent: "survivor", input: { keep: true }, actor: "test", source: "api" }, recordAfter(faultyEnv));
    expect(result.status).toBe("succeeded");
    await runsSettled();
    expect(faulty.failed).toHaveLength(1);
    // The buffer's alarm is set for "now": it writes the record on its own, from storage.
    const buffer = workerEnv.RUN_BUFFER.getByName(BUFFER_NAME);
    await eventually(async () =>
      expect(await getRun(workerEnv.DB, result.runId)).toMatchObject({ id: result.runId, agent: "survivor", status: "succeeded", input: { keep: true } }),
    );
    expect(await buffer.heldCount()).toBe(0);
  });

  it("holds a record once however often it is handed over, until a write succeeds", async () => {
    const faulty = failingD1(workerEnv.DB, /INSERT OR IGNORE INTO runs/, 1);
    expect(await flushRuns({ ...workerEnv, DB: faulty.db }, [runRecord("run_held_a"), runRecord("run_held_b")])).toBe("buffered");
    const buffer = workerEnv.RUN_BUFFER.getByName(BUFFER_NAME);
    await buffer.hold([runRecord("run_held_a")]);
    await runDurableObjectAlarm(buffer);
    await eventually(async () => expect(await buffer.heldCount()).toBe(0));
    const stored = await workerEnv.DB.prepare("SELECT count(*) AS n FROM runs WHERE id IN ('run_held_a', 'run_held_b')").first<{ n: number }>();
    expect(stored?.n).toBe(2);
    expect([1, 2, 3, 20].map(retryDelayMs)).toEqual([1_000, 2_000, 4_000, 300_000]);
  });

  it("runs that end close together share one write; a read in the same isolate sends the open window at once, and its timer then writes nothing", async () => {
    const { db, trips } = countingD1(workerEnv.DB);
    const countingEnv = { ...workerEnv, DB: db };
    const sink = recordAfter(countingEnv);
    for (const id of ["run_window_a", "run_window_b", "run_window_c"]) await sink(runRecord(id));
    expect(trips).toEqual([]);
    // The write starts inside the call, not when the window's timer fires.
    const settled = runsSettled();
    expect(trips).toEqual([{ batch: 1 }]);
    await settled;
    const stored = await workerEnv.DB.prepare("SELECT count(*) AS n FROM runs WHERE id LIKE 'run_window_%'").first<{ n: number }>();
    expect(stored?.n).toBe(3);
    await new Promise((r) => setTimeout(r, WINDOW_MS + 50));
    expect(trips).toEqual([{ batch: 1 }]);
  });

  it("answers POST /execute before the record lands, and the record is in D1 within 1 s of the answer", async () => {
    await api("POST", "/api/v1/agents", { body: codeSpec("visible") });
    const res = await api("POST", "/api/v1/execute", { body: { agent: "visible", input: { v: 1 } } });
    expect(res.status).toBe(200);
    const answeredAt = Date.now();
    // Read D1 directly, as another isolate would (no wait for this isolate's writes in flight).
    let row: unknown = null;
    while (!row && Date.now() - answeredAt < 1_000) {
      row = await workerEnv.DB.prepare("SELECT id FROM runs WHERE id = ?").bind(res.json.runId).first();
      if (!row) await new Promise((r) => setTimeout(r, 5));
    }
    expect(row).toEqual({ id: res.json.runId });
    expect(Date.now() - answeredAt).toBeLessThan(1_000);
    expect((await api("GET", `/api/v1/runs/${res.json.runId}`)).json).toMatchObject({ id: res.json.runId, status: "succeeded", input: { v: 1 } });
  });
});
