import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { agentSpecSchema } from "../src/registry/spec";
import { runSpec } from "../src/runtime/execute";
import { MAX_LOG_CHARS, MAX_LOG_ENTRIES } from "../src/runtime/limits";
import { getRun } from "../src/runtime/runs";

const run = (name: string, body: string, timeoutMs?: number, input: unknown = {}) =>
  runSpec(env, agentSpecSchema.parse({ name, version: "1.0.0", kind: "code", code: `export default { async run(input, ctx) { ${body} } };` }), input, {
    actor: "test",
    source: "test",
    timeoutMs,
  });

const storedLogs = async (runId: string) => (await getRun(env.DB, runId)).logs;

// ctx.log lines travel back with the sandbox's reply, not as calls to the host: these pin that nothing is lost on the way.
describe("a code run's logs", () => {
  it("keeps MAX_LOG_ENTRIES lines of MAX_LOG_CHARS, in order", async () => {
    const r = await run("chatty", `ctx.log('x'.repeat(${MAX_LOG_CHARS} + 10), 'tail'); for (let i = 1; i < 250; i++) ctx.log('line', i); return 'done';`);
    expect(r.output).toBe("done");
    const logs = await storedLogs(r.runId);
    expect(logs).toHaveLength(MAX_LOG_ENTRIES);
    expect(logs[0]).toBe(`${"x".repeat(MAX_LOG_CHARS)}…`);
    expect(logs.slice(1, 3)).toEqual(["line 1", "line 2"]);
    expect(logs.at(-1)).toBe(`line ${MAX_LOG_ENTRIES - 1}`);
  });

  it.each([
    ["awaits a promise that never settles", "await new Promise(() => {});"],
    ["awaits something slower than its limit", "await new Promise((resolve) => setTimeout(resolve, 5_000));"],
    ["spins", "while (true) {}"],
  ])("keeps what a run logged before it timed out when it %s", async (_what, rest) => {
    const r = await run("stuck", `ctx.log('started', { step: 1 }); ${rest}`, 150);
    expect(r.error?.code).toBe("agent_timeout");
    expect(await storedLogs(r.runId)).toEqual(['started {"step":1}']);
  });

  it("keeps what a run logged before it threw or returned a bad output", async () => {
    const threw = await run("thrower", "ctx.log('about to throw'); throw new Error('boom');");
    expect(threw.error?.code).toBe("agent_failed");
    expect(await storedLogs(threw.runId)).toEqual(["about to throw"]);
    const bad = await run("bad-output", "ctx.log('returning a function'); return () => 1;");
    expect(bad.error?.code).toBe("agent_output_invalid");
    expect(await storedLogs(bad.runId)).toEqual(["returning a function"]);
  });

  it("records nothing logged after the run answered, and no line of one run in another's record", async () => {
    const late = await run("late", "setTimeout(() => ctx.log('late'), 20); ctx.log('on time'); return 'done';");
    const [a, b] = await Promise.all([run("concurrent", "ctx.log('a'); await null; ctx.log('a again'); return 1;"), run("concurrent", "ctx.log('b'); return 2;")]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await storedLogs(late.runId)).toEqual(["on time"]);
    expect(await storedLogs(a.runId)).toEqual(["a", "a again"]);
    expect(await storedLogs(b.runId)).toEqual(["b"]);
  });

  it("hands every run the same settled promise from ctx.log, which no run can alter for the next", async () => {
    const code =
      "if (input.tamper) { try { ctx.log('tampering').then = () => {}; } catch {} return 'tried'; } await new Promise((resolve) => ctx.log('awaited').then(resolve)); return 'done';";
    const tamper = await run("shared-settled", code, undefined, { tamper: true });
    const after = await run("shared-settled", code, 500);
    expect([tamper.output, after.output]).toEqual(["tried", "done"]);
    expect(await storedLogs(after.runId)).toEqual(["awaited"]);
  });
});
