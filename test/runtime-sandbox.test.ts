import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { agentSpecSchema } from "../src/registry/spec";
import type { Env } from "../src/env";
import { runSpec } from "../src/runtime/execute";
import { RunHost } from "../src/runtime/host";
import { getRun } from "../src/runtime/runs";

const fixture = inject("bedrockUrl");
const fixtureHost = new URL(fixture).host;

const spec = (name: string, code: string, extra: Record<string, unknown> = {}) => agentSpecSchema.parse({ name, version: "1.0.0", kind: "code", code, ...extra });

const run = (name: string, code: string, input: unknown = {}, extra: Record<string, unknown> = {}, timeoutMs?: number) =>
  runSpec(env, spec(name, code, extra), input, { actor: "test", source: "test", timeoutMs });

const agent = (body: string) => `export default { async run(input, ctx) { ${body} } };`;

describe("code agents in Dynamic Worker sandboxes", () => {
  it("runs a module's run(input, ctx) and returns its JSON output", async () => {
    const r = await run("echo", agent("return { got: input, p: ctx.params.greeting };"), { a: 1 }, { params: { greeting: "hi" } });
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ status: "succeeded", output: { got: { a: 1 }, p: "hi" }, agent: "echo", version: "1.0.0" });
  });

  it("records the run with its logs", async () => {
    const r = await run("logger", agent("ctx.log('hello', { n: 1 }); await ctx.log('second'); return 'done';"));
    const stored = await getRun(env.DB, r.runId);
    expect(stored).toMatchObject({ status: "succeeded", output: "done", source: "test", actor: "test" });
    expect(stored.logs).toEqual(['hello {"n":1}', "second"]);
  });

  it("checks the input against the spec's inputSchema", async () => {
    const inputSchema = { type: "object", required: ["text"], properties: { text: { type: "string", maxLength: 5 } } };
    const bad = await run("typed", agent("return input.text;"), { text: "far too long" }, { inputSchema });
    expect(bad.error).toMatchObject({ code: "validation_failed" });
    expect(bad.error?.errors?.[0]?.path).toBe("input.text");
    const good = await run("typed", agent("return input.text;"), { text: "ok" }, { inputSchema });
    expect(good.output).toBe("ok");
  });
});

describe("limits", () => {
  it("stops a CPU-bound infinite loop at the timeout, and the system keeps serving", async () => {
    const r = await run("spinner", agent("while (true) {}"), {}, {}, 200);
    expect(r).toMatchObject({ status: "failed", error: { code: "agent_timeout" }, limitViolation: true });
    const after = await run("after-spin", agent("return 'alive';"));
    expect(after.output).toBe("alive");
  });

  it("keeps other agents' concurrent runs working while one spins", async () => {
    const others = Array.from({ length: 6 }, (_, i) => run(`bystander-${i % 3}`, agent("await new Promise((r) => setTimeout(r, 1)); return input.i * 10;"), { i }));
    const [spin, ...rest] = await Promise.all([run("concurrent-spinner", agent("for (;;) {}"), {}, {}, 150), ...others]);
    expect(spin?.error?.code).toBe("agent_timeout");
    expect(rest.map((r) => r.output)).toEqual([0, 10, 20, 30, 40, 50]);
  });

  it("stops loops that swallow the limit in catch blocks, recursion, and microtask loops", async () => {
    const swallow = await run("swallower", agent("for (;;) { try { for (;;) {} } catch {} finally { } }"), {}, {}, 150);
    expect(swallow.error?.code).toBe("agent_timeout");
    const micro = await run("microtasks", agent("for (;;) { await null; }"), {}, {}, 150);
    expect(micro.error?.code).toBe("agent_timeout");
    const arrows = await run("arrows", agent("const f = () => [1, 2, 3].map((x) => x + 1); for (;;) f();"), {}, {}, 150);
    expect(arrows.error?.code).toBe("agent_timeout");
  });

  it("stops an infinite loop in top-level module code", async () => {
    const r = await run("top-spinner", "while (true) {}\nexport default { async run() { return 1; } };");
    expect(r.status).toBe("failed");
    expect(r.error?.code).toBe("agent_module_invalid");
  });

  it("times out an agent that never returns", async () => {
    const r = await run("sleeper", agent("await new Promise(() => {});"), {}, {}, 100);
    expect(r).toMatchObject({ error: { code: "agent_timeout" }, limitViolation: true });
  });

  it("uses the spec's timeout by default and never lets a request lengthen it", async () => {
    const r = await run("slow-spec", agent("await new Promise(() => {});"), {}, { timeoutMs: 100 }, 25_000);
    expect(r.error?.code).toBe("agent_timeout");
    expect(r.durationMs).toBeLessThan(5_000);
  });

  it("returns and records output just under 256 KB", async () => {
    const r = await run("big-ok", agent("return 'y'.repeat(250 * 1024);"));
    expect(r.status).toBe("succeeded");
    expect((await getRun(env.DB, r.runId)).output).toHaveLength(250 * 1024);
  });

  it("refuses output over 256 KB", async () => {
    const r = await run("big", agent("return 'x'.repeat(300 * 1024);"));
    expect(r).toMatchObject({ status: "failed", error: { code: "agent_output_too_large" }, limitViolation: true });
  });

  it.each([
    ["a function", "return () => 1;"],
    ["a cyclic object", "const a = {}; a.self = a; return a;"],
    ["a BigInt", "return { n: 10n };"],
    ["a symbol", "return Symbol('x');"],
  ])("refuses %s as output", async (_what, body) => {
    const r = await run("garbage", agent(body));
    expect(r).toMatchObject({ status: "failed", error: { code: "agent_output_invalid" } });
  });

  it("reports a thrown error", async () => {
    const r = await run("thrower", agent("throw new TypeError('boom');"));
    expect(r).toMatchObject({ status: "failed", error: { code: "agent_failed", detail: "The agent threw: TypeError: boom" } });
    const odd = await run("odd-thrower", agent("throw { toString() { throw new Error('nested'); } };"));
    expect(odd.error?.code).toBe("agent_failed");
  });

  it.each([
    ["a syntax error", "export default { async run( { return 1; } };"],
    ["no run function", "export default { go() {} };"],
    ["no default export", "export const run = () => 1;"],
  ])("refuses a module with %s", async (_what, code) => {
    const r = await run("broken", code);
    expect(r).toMatchObject({ status: "failed", error: { code: "agent_module_invalid" } });
  });
});

describe("escape attempts are contained", () => {
  it("has no network when permissions.network is empty", async () => {
    const r = await run("fetcher", agent(`return (await fetch(${JSON.stringify(`${fixture}/__echo/a`)})).status;`));
    expect(r.status).toBe("failed");
    expect(r.error?.detail).toMatch(/not permitted to access the internet/);
    const sockets = await run("connector", agent("const { connect } = await import('cloudflare:sockets'); const s = connect('127.0.0.1:80'); await s.opened; return 'open';"));
    expect(sockets.status).toBe("failed");
  });

  it("lets a granted host through the gate and refuses every other one", async () => {
    const network = { permissions: { network: [fixtureHost], models: [], maxTokensPerRun: 100 } };
    const ok = await run("granted", agent(`const r = await fetch(${JSON.stringify(`${fixture}/__echo/hello`)}); return { status: r.status, body: await r.json() };`), {}, network);
    expect(ok.output).toMatchObject({ status: 200, body: { path: "/__echo/hello" } });
    const otherPort = `http://127.0.0.1:${Number(new URL(fixture).port) + 1}/x`;
    for (const url of ["http://example.com/", otherPort, `http://localhost:${new URL(fixture).port}/__echo/x`]) {
      const denied = await run("granted", agent(`const r = await fetch(${JSON.stringify(url)}); return { status: r.status, gate: r.headers.get('x-tdev-egress') };`), {}, network);
      expect(denied.output).toEqual({ status: 403, gate: "denied" });
    }
  });

  it("refuses a granted host's redirect to a host that is not granted", async () => {
    const network = { permissions: { network: [fixtureHost], models: [], maxTokensPerRun: 100 } };
    const target = `${fixture}/__redirect?to=${encodeURIComponent("http://example.com/")}`;
    // The sandbox's fetch follows the redirect itself, so the second hop comes through the gate too.
    const follow = await run(
      "redirected",
      agent(`const r = await fetch(${JSON.stringify(target)}); return { status: r.status, gate: r.headers.get('x-tdev-egress') };`),
      {},
      network,
    );
    expect(follow.output).toEqual({ status: 403, gate: "denied" });
    const manual = await run(
      "redirected",
      agent(`const r = await fetch(${JSON.stringify(target)}, { redirect: "manual" }); return { status: r.status, location: r.headers.get('location') };`),
      {},
      network,
    );
    expect(manual.output).toEqual({ status: 302, location: "http://example.com/" });
  });

  it("has no node builtins, process or require", async () => {
    const fs = await run("node-fs", "import fs from 'node:fs';\nexport default { async run() { return fs.readFileSync('/etc/passwd', 'utf8'); } };");
    expect(fs).toMatchObject({ status: "failed", error: { code: "agent_module_invalid" } });
    expect(fs.error?.detail).toMatch(/node:fs/);
    const dyn = await run("node-dyn", agent("const m = await import('node:child_process'); return typeof m;"));
    expect(dyn.status).toBe("failed");
    const globals = await run("node-globals", agent("return [typeof process, typeof require, typeof Buffer, typeof __dirname];"));
    expect(globals.output).toEqual(["undefined", "undefined", "undefined", "undefined"]);
  });

  it("cannot generate code from strings", async () => {
    const e = await run("evaluator", agent("return eval('1 + 1');"));
    expect(e.error?.detail).toMatch(/EvalError|Code generation from strings disallowed/);
    const f = await run("function-ctor", agent("return new Function('return 1')();"));
    expect(f.error?.detail).toMatch(/EvalError|Code generation from strings disallowed/);
    const g = await run("indirect-ctor", agent("return (async function(){}).constructor('return 1')();"));
    expect(g.status).toBe("failed");
  });

  it("cannot reach another agent's data or the host's bindings", async () => {
    const writer = await run("writer", "let secret;\nexport default { async run(input) { secret = input.secret; globalThis.shared = input.secret; return 'stored'; } };", {
      secret: "writer-secret",
    });
    expect(writer.output).toBe("stored");
    const reader = await run(
      "reader",
      "import { env } from 'cloudflare:workers';\nexport default { async run(input, ctx) { return { shared: globalThis.shared ?? null, env: Object.keys(env), ctx: Object.keys(ctx).sort(), caches: await caches.default.match('http://x').then(() => 'open', (e) => 'closed') }; } };",
    );
    expect(reader.output).toEqual({ shared: null, env: [], ctx: ["log", "model", "params"], caches: "closed" });
  });

  it("cannot tamper with ctx", async () => {
    const r = await run("tamperer", agent("ctx.model = async () => 'free tokens'; return 'tampered';"), {}, { permissions: { network: [], models: ["m1"], maxTokensPerRun: 10 } });
    expect(r).toMatchObject({ status: "failed", error: { code: "agent_failed" } });
    expect(r.error?.detail).toMatch(/read only|read-only|Cannot assign/);
    const params = await run("params-tamperer", agent("ctx.params.limit = 1e9; return ctx.params.limit;"), {}, { params: { limit: 1 } });
    expect(params.status).toBe("failed");
  });

  it("is held to its allowed models and token budget by the host, whatever it asks", async () => {
    const permissions = { network: [], models: ["sandbox-model-a"], maxTokensPerRun: 12 };
    const other = await run(
      "greedy",
      agent("try { await ctx.model({ modelId: 'anthropic.claude-opus', prompt: 'hi' }); return 'called'; } catch (e) { return e.message; }"),
      {},
      { permissions },
    );
    expect(other.output).toMatch(/not permitted/);
    expect(other.limitViolation).toBe(true);
    const spender = await run(
      "spender",
      agent(
        "const out = []; for (let i = 0; i < 5; i++) { try { const r = await ctx.model({ prompt: 'one two three four five', maxTokens: 1000 }); out.push(r.usage.totalTokens); } catch (e) { out.push(e.message); break; } } return out;",
      ),
      {},
      { permissions },
    );
    const out = spender.output as (number | string)[];
    expect(out.slice(0, 2)).toEqual([11, 11]);
    expect(String(out[2])).toMatch(/token budget of 12 is spent/);
    expect(spender.limitViolation).toBe(true);
    expect(spender.usage?.totalTokens).toBe(22);
    const model = await run("modeller", agent("const r = await ctx.model({ prompt: 'four words right here' }); return r;"), {}, { permissions });
    expect(model).toMatchObject({ status: "succeeded", output: { text: "echo: four words right here", stopReason: "end_turn" }, usage: { totalTokens: 9 } });
    const noModels = await run("no-models", agent("return typeof ctx.model;"));
    expect(noModels.output).toBe("undefined");
  });

  it("reports the Bedrock failure behind an uncaught ctx.model error, so squads can fail over on circuit_open", async () => {
    await fetch(`${fixture}/__control/script`, { method: "POST", body: JSON.stringify({ modelId: "sandbox-denied", failures: [{ status: 403, code: "AccessDeniedException" }] }) });
    const r = await run(
      "uncaught-model",
      agent("return await ctx.model({ prompt: 'hi' });"),
      {},
      { permissions: { network: [], models: ["sandbox-denied"], maxTokensPerRun: 100 } },
    );
    expect(r.error).toMatchObject({ code: "bedrock_error", type: "/problems/bedrock-access-denied-exception" });
  });

  it("the host answers ctx.model failures as a result object, never a rejection across RPC", async () => {
    const host = new RunHost(env as unknown as Env, { network: [], models: ["host-model"], maxTokensPerRun: 5 }, Date.now() + 5_000);
    await expect(host.model({ modelId: "other-model", prompt: "hi" })).resolves.toMatchObject({ ok: false, code: "model_not_permitted" });
    await expect(host.model({ prompt: 42 })).resolves.toMatchObject({ ok: false, code: "validation_failed", detail: expect.stringContaining("prompt") });
    host.close();
    await expect(host.model({ prompt: "hi" })).resolves.toEqual({ ok: false, code: "run_over", detail: "This run is over." });
  });

  it("turns the host's failure reply into a rejection with an Error inside the sandbox", async () => {
    const permissions = { network: [], models: ["sandbox-model-b"], maxTokensPerRun: 100 };
    const r = await run(
      "rejected-model",
      agent("try { await ctx.model({ modelId: 'not-mine', prompt: 'hi' }); return 'called'; } catch (e) { return { isError: e instanceof Error, message: e.message }; }"),
      {},
      { permissions },
    );
    expect(r.output).toEqual({ isError: true, message: "ctx.model: model_not_permitted: model not-mine is not permitted; this agent may call sandbox-model-b." });
  });

  it("gets nothing from the host once its run is over", async () => {
    const permissions = { network: [], models: ["after-run-model"], maxTokensPerRun: 100 };
    const r = await run(
      "zombie",
      agent("setTimeout(() => { ctx.model({ prompt: 'late call' }).catch(() => {}); ctx.log('late log'); }, 20); ctx.log('on time'); return 'done';"),
      {},
      { permissions },
    );
    expect(r.output).toBe("done");
    await new Promise((resolve) => setTimeout(resolve, 150));
    const seen = (await (await fetch(`${fixture}/__control/requests?id=after-run-model`)).json()) as unknown[];
    expect(seen).toEqual([]);
    expect((await getRun(env.DB, r.runId)).logs).toEqual(["on time"]);
  });
});
