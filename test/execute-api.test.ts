import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Env } from "../src/env";
import { agentSpecSchema } from "../src/registry/spec";
import { executeAgent, runSpec } from "../src/runtime/execute";
import { api, codeSpec } from "./helpers";

const fixture = inject("bedrockUrl");
const control = (path: string, body: unknown) => fetch(`${fixture}/__control/${path}`, { method: "POST", body: JSON.stringify(body) });

async function register(spec: Record<string, unknown>) {
  const res = await api("POST", "/api/v1/agents", { body: spec });
  expect(res.status, res.text).toBe(201);
  return res.json as { id: string };
}

const execute = (body: unknown, token?: string) => api("POST", "/api/v1/execute", { body, token });

describe("POST /api/v1/execute", () => {
  beforeAll(async () => {
    await register(codeSpec("upper", "1.0.0", { code: "export default { async run(input, ctx) { return { text: String(input.text).toUpperCase(), v: '1' }; } };" }));
  });

  it("runs a code agent and records the run", async () => {
    const res = await execute({ agent: "upper", input: { text: "hello" } });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ agent: "upper", version: "1.0.0", output: { text: "HELLO", v: "1" } });
    expect(res.json.runId).toMatch(/^run_/);
    expect(res.json.durationMs).toBeGreaterThanOrEqual(0);
    const run = await api("GET", `/api/v1/runs/${res.json.runId}`);
    expect(run.status).toBe(200);
    expect(run.json).toMatchObject({
      id: res.json.runId,
      agent: "upper",
      version: "1.0.0",
      kind: "code",
      status: "succeeded",
      actor: "admin",
      source: "api",
      input: { text: "hello" },
      output: { text: "HELLO", v: "1" },
      error: null,
    });
  });

  it("resolves name@version and name#channel, and the live channel by default", async () => {
    const { id } = await register(codeSpec("versioned", "1.0.0", { code: "export default { async run() { return 'one'; } };" }));
    const two = await api("PUT", `/api/v1/agents/${id}`, { body: codeSpec("versioned", "2.0.0", { code: "export default { async run() { return 'two'; } };" }) });
    expect(two.status).toBe(201);
    expect((await execute({ agent: "versioned", input: null })).json.output).toBe("one");
    expect((await execute({ agent: "versioned@2.0.0", input: null })).json.output).toBe("two");
    expect((await api("PUT", `/api/v1/agents/${id}/channels/canary`, { body: { version: "2.0.0" } })).status).toBeLessThan(300);
    expect((await execute({ agent: "versioned#canary", input: null })).json).toMatchObject({ version: "2.0.0", output: "two" });
  });

  it("keys isolates by code: versions that differ only in params share one warm isolate, new code gets a fresh one", async () => {
    const counter = "let calls = 0;\nexport default { async run(input, ctx) { calls += 1; return [calls, ctx.params.tag]; } };";
    const { id } = await register(codeSpec("counter", "1.0.0", { code: counter, params: { tag: "a" } }));
    expect((await execute({ agent: "counter", input: null })).json.output).toEqual([1, "a"]);
    expect((await execute({ agent: "counter", input: null })).json.output).toEqual([2, "a"]); // warm: the same isolate
    // Same code, other params: the same isolate serves it, with this version's params passed per run.
    expect((await api("PUT", `/api/v1/agents/${id}`, { body: codeSpec("counter", "1.1.0", { code: counter, params: { tag: "b" } }) })).status).toBe(201);
    expect((await execute({ agent: "counter@1.1.0", input: null })).json.output).toEqual([3, "b"]);
    // Different code: a fresh isolate, so module state starts again.
    expect((await api("PUT", `/api/v1/agents/${id}`, { body: codeSpec("counter", "1.2.0", { code: `${counter}\n// v3`, params: { tag: "c" } }) })).status).toBe(201);
    expect((await execute({ agent: "counter@1.2.0", input: null })).json.output).toEqual([1, "c"]);
  });

  it("answers a failed run as a problem naming the run, which is recorded", async () => {
    await register(codeSpec("crasher", "1.0.0", { code: "export default { async run() { throw new Error('kaput'); } };" }));
    const res = await execute({ agent: "crasher", input: {} });
    expect(res.status).toBe(422);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.json).toMatchObject({ type: "/problems/agent-failed", detail: "The agent threw: Error: kaput", agent: "crasher", version: "1.0.0" });
    const run = await api("GET", `/api/v1/runs/${res.json.runId}`);
    expect(run.json).toMatchObject({ status: "failed", error: { code: "agent_failed", detail: "The agent threw: Error: kaput" } });
  });

  it("answers a timeout as 504 and input that breaks the inputSchema as 422 naming the field", async () => {
    await register(codeSpec("hanger", "1.0.0", { code: "export default { async run() { await new Promise((r) => setTimeout(r, 60_000)); } };" }));
    const slow = await execute({ agent: "hanger", input: {}, timeoutMs: 100 });
    expect(slow.status).toBe(504);
    expect(slow.json).toMatchObject({ type: "/problems/agent-timeout", limitViolation: true });
    await register(codeSpec("typed", "1.0.0", { inputSchema: { type: "object", required: ["n"], properties: { n: { type: "integer" } } } }));
    const bad = await execute({ agent: "typed", input: { n: "seven" } });
    expect(bad.status).toBe(422);
    expect(bad.json.type).toBe("/problems/validation-failed");
    expect(bad.json.errors[0].path).toBe("input.n");
  });

  it("refuses bad requests without running anything", async () => {
    expect((await execute({ agent: "no-such-agent", input: {} })).status).toBe(404);
    expect((await execute({ agent: "Bad Ref!", input: {} })).status).toBe(422);
    expect((await execute({ agent: "upper", input: {}, timeoutMs: 999_999 })).json.errors[0].path).toBe("timeoutMs");
    expect((await execute({ agent: "upper", input: {}, extra: 1 })).status).toBe(422);
    expect((await execute({ agent: "upper", input: {} }, "")).status).toBe(401);
  });

  it("needs squads:run to execute and agents:read to read runs", async () => {
    const reader = await api("POST", "/api/v1/keys", { body: { name: "reader", scopes: ["agents:read"] } });
    const runner = await api("POST", "/api/v1/keys", { body: { name: "runner", scopes: ["squads:run"] } });
    expect((await execute({ agent: "upper", input: { text: "x" } }, reader.json.key)).status).toBe(403);
    const ok = await execute({ agent: "upper", input: { text: "x" } }, runner.json.key);
    expect(ok.status).toBe(200);
    expect((await api("GET", `/api/v1/runs/${ok.json.runId}`, { token: runner.json.key })).status).toBe(403);
    expect((await api("GET", `/api/v1/runs/${ok.json.runId}`, { token: reader.json.key })).json.actor).toMatch(/^key:/);
  });

  it("runs many concurrent runs of several agents, each getting its own answer", async () => {
    for (const name of ["par-a", "par-b", "par-c"]) {
      await register(
        codeSpec(name, "1.0.0", {
          code: `export default { async run(input) { await new Promise((r) => setTimeout(r, 5)); let s = 0; for (let i = 0; i < 1000; i++) s += i; return { agent: ${JSON.stringify(name)}, n: input.n, s }; } };`,
        }),
      );
    }
    const calls = Array.from({ length: 36 }, (_, i) => ({ name: ["par-a", "par-b", "par-c"][i % 3]!, n: i }));
    const results = await Promise.all(calls.map((c) => execute({ agent: c.name, input: { n: c.n } })));
    results.forEach((res, i) => {
      expect(res.status, res.text).toBe(200);
      expect(res.json.output).toEqual({ agent: calls[i]!.name, n: calls[i]!.n, s: 499500 });
    });
    expect(new Set(results.map((r) => r.json.runId)).size).toBe(36);
    const listed = await api("GET", "/api/v1/runs?agent=par-b&limit=100");
    expect(listed.json.items).toHaveLength(12);
  });
});

describe("llm and bedrock-agent agents through /api/v1/execute", () => {
  it("fills the prompt template, calls Converse on the fixture and records tokens and stopReason", async () => {
    await register({
      name: "summarizer",
      version: "1.0.0",
      kind: "llm",
      model: "amazon.nova-lite-v1:0",
      prompt: "Summarize {{input.text}} in a {{params.style}} way",
      params: { style: "brief", maxTokens: 64, temperature: 0.2 },
    });
    const res = await execute({ agent: "summarizer", input: { text: "the long report" } });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ output: "echo: Summarize the long report in a brief way", usage: { inputTokens: 8, outputTokens: 9, totalTokens: 17 } });
    const run = await api("GET", `/api/v1/runs/${res.json.runId}`);
    expect(run.json).toMatchObject({ kind: "llm", modelId: "amazon.nova-lite-v1:0", stopReason: "end_turn", usage: { totalTokens: 17 } });
    expect(run.json.modelLatencyMs).toBeGreaterThanOrEqual(0);
    expect(run.json.modelLatencyMs).toBeLessThanOrEqual(run.json.durationMs);
    const seen = (await (await fetch(`${fixture}/__control/requests?id=${encodeURIComponent("amazon.nova-lite-v1:0")}`)).json()) as unknown[];
    expect(seen.at(-1)).toMatchObject({ signature: "valid", body: { inferenceConfig: { maxTokens: 64, temperature: 0.2 } } });
  });

  it("names the AWS error in the problem type when Bedrock refuses", async () => {
    await register({ name: "denied-llm", version: "1.0.0", kind: "llm", model: "denied-model", prompt: "hi" });
    await control("script", { modelId: "denied-model", failures: [{ status: 403, code: "AccessDeniedException", message: "You don't have access to the model" }] });
    const res = await execute({ agent: "denied-llm", input: {} });
    expect(res.status).toBe(502);
    expect(res.json).toMatchObject({ type: "/problems/bedrock-access-denied-exception", title: "Bedrock error" });
    expect(res.json.detail).toContain("You don't have access to the model");
    const run = await api("GET", `/api/v1/runs/${res.json.runId}`);
    expect(run.json.error).toMatchObject({ code: "bedrock_error", type: "/problems/bedrock-access-denied-exception" });
  });

  it("answers circuit_open while a model's breaker is open", async () => {
    await register({ name: "fragile-llm", version: "1.0.0", kind: "llm", model: "fragile-model", prompt: "hi" });
    await control("script", { modelId: "fragile-model", failures: Array(6).fill({ status: 500, code: "InternalServerException" }) });
    const first = await execute({ agent: "fragile-llm", input: {} });
    expect(first.json.type).toBe("/problems/bedrock-internal-server-exception");
    await execute({ agent: "fragile-llm", input: {} }); // 3 + 3 attempts: the threshold of 5 is passed
    const open = await execute({ agent: "fragile-llm", input: {} });
    expect(open.status).toBe(503);
    expect(open.json.type).toBe("/problems/circuit-open");
    const breakers = await api("GET", "/api/v1/models/breakers");
    expect(breakers.json.items.find((b: { key: string }) => b.key === "fragile-model")).toMatchObject({ state: "open" });
  });

  it("runs a bedrock-agent agent through InvokeAgent, one session per task", async () => {
    await register({ name: "travel", version: "1.0.0", kind: "bedrock-agent", bedrockAgent: { agentId: "TRAVEL01", aliasId: "LIVE" } });
    const res = await execute({ agent: "travel", input: "book a flight", sessionId: "task-42" });
    expect(res.status, res.text).toBe(200);
    expect(res.json.output).toBe("agent TRAVEL01 says: book a flight");
    const run = await api("GET", `/api/v1/runs/${res.json.runId}`);
    expect(run.json).toMatchObject({ kind: "bedrock-agent", sessionId: "task-42" });
  });

  it("fails model-backed runs with bedrock-not-configured while code agents keep working", async () => {
    const bare = { ...(env as unknown as Env), AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_REGION: undefined };
    const llm = await executeAgent(bare, { agent: "summarizer", input: { text: "x" }, actor: "test" });
    expect(llm).toMatchObject({ status: "failed", error: { code: "bedrock_not_configured" } });
    expect(llm.error?.detail).toMatch(/AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY are missing/);
    const code = await executeAgent(bare, { agent: "upper", input: { text: "still" }, actor: "test" });
    expect(code.output).toEqual({ text: "STILL", v: "1" });
  });

  it("runs an unregistered spec for evaluation and records it with source evaluation", async () => {
    const spec = agentSpecSchema.parse({ name: "candidate", version: "0.0.1", kind: "code", code: "export default { async run(i) { return i * 2; } };" });
    const r = await runSpec(env as unknown as Env, spec, 21, { actor: "evolution" });
    expect(r).toMatchObject({ status: "succeeded", output: 42, agent: "candidate" });
    const run = await api("GET", `/api/v1/runs/${r.runId}`);
    expect(run.json).toMatchObject({ source: "evaluation", agentId: null, actor: "evolution" });
  });
});

describe("GET /api/v1/runs", () => {
  it("pages newest first with a cursor and filters by agent and status", async () => {
    await register(codeSpec("pager", "1.0.0"));
    for (let i = 0; i < 5; i++) await execute({ agent: "pager", input: { i } });
    const first = await api("GET", "/api/v1/runs?agent=pager&limit=2");
    expect(first.json.items.map((r: { input: { i: number } }) => r.input.i)).toEqual([4, 3]);
    const second = await api("GET", `/api/v1/runs?agent=pager&limit=2&cursor=${first.json.nextCursor}`);
    expect(second.json.items.map((r: { input: { i: number } }) => r.input.i)).toEqual([2, 1]);
    const third = await api("GET", `/api/v1/runs?agent=pager&limit=2&cursor=${second.json.nextCursor}`);
    expect(third.json).toMatchObject({ nextCursor: null });
    expect(third.json.items).toHaveLength(1);
    expect((await api("GET", "/api/v1/runs?status=failed&limit=100")).json.items.every((r: { status: string }) => r.status === "failed")).toBe(true);
    expect((await api("GET", "/api/v1/runs?cursor=garbage")).status).toBe(400);
    expect((await api("GET", "/api/v1/runs/run_missing")).status).toBe(404);
  });
});
