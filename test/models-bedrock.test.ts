import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { Env } from "../src/env";
import { AppError } from "../src/errors";
import { breakerSnapshots } from "../src/models/breaker";
import { bedrockProblemType } from "../src/models/client";
import { converse } from "../src/models/converse";
import { invokeAgent } from "../src/models/invoke-agent";
import { control, requestsFor } from "./bedrock-control";

const withEnv = (overrides: Partial<Env>): Env => ({ ...(env as unknown as Env), ...overrides });
const ask = (modelId: string, e: Env = env as unknown as Env) => converse(e, { modelId, messages: [{ role: "user", content: "hello there bedrock" }], maxTokens: 50 });

async function failure(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error("expected the call to fail");
}

describe("Converse through a SigV4-signed fetch", () => {
  it("passes the fixture's signature check and reports text, usage, stopReason and latency", async () => {
    const model = "anthropic.claude-3-haiku-20240307-v1:0";
    const result = await ask(model);
    expect(result.text).toBe("echo: hello there bedrock");
    expect(result.usage).toEqual({ inputTokens: 3, outputTokens: 4, totalTokens: 7 });
    expect(result.stopReason).toBe("end_turn");
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    const [seen] = await requestsFor(model);
    expect(seen?.signature).toBe("valid");
    expect(seen?.body).toEqual({ messages: [{ role: "user", content: [{ text: "hello there bedrock" }] }], inferenceConfig: { maxTokens: 50 } });
  });

  it("answers the scripted reply for a model id", async () => {
    await control("script", { modelId: "judge-scripted", reply: { text: '{"score":0.75}', stopReason: "max_tokens", usage: { inputTokens: 10, outputTokens: 5 } } });
    const result = await ask("judge-scripted");
    expect(result).toMatchObject({ text: '{"score":0.75}', stopReason: "max_tokens", usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 } });
  });

  it("is refused with Bedrock's 403 when signed with the wrong secret, and is not retried", async () => {
    const err = await failure(ask("wrong-secret-model", withEnv({ AWS_SECRET_ACCESS_KEY: "not-the-secret" })));
    expect(err.code).toBe("bedrock_error");
    expect(err.extra.type).toBe("/problems/bedrock-invalid-signature-exception");
    expect(err.extra.awsStatus).toBe(403);
    const seen = await requestsFor("wrong-secret-model");
    expect(seen.map((s) => s.signature)).toEqual(["invalid"]);
  });

  it("is refused as an unrecognized client when the key id is unknown", async () => {
    const err = await failure(ask("wrong-key-model", withEnv({ AWS_ACCESS_KEY_ID: "AKIDSOMEONEELSE" })));
    expect(err.extra.type).toBe("/problems/bedrock-unrecognized-client-exception");
    expect((await requestsFor("wrong-key-model")).length).toBe(1);
  });

  it("retries throttling and 5xx with backoff, then succeeds", async () => {
    await control("script", {
      modelId: "flaky-model",
      failures: [
        { status: 429, code: "ThrottlingException" },
        { status: 500, code: "InternalServerException" },
      ],
    });
    const result = await ask("flaky-model");
    expect(result.text).toBe("echo: hello there bedrock");
    const seen = await requestsFor("flaky-model");
    expect(seen.length).toBe(3);
    expect(seen.every((s) => s.signature === "valid")).toBe(true);
  });

  it("gives up after the attempt limit with a problem type naming the AWS error", async () => {
    await control("script", { modelId: "throttled-model", failures: Array(3).fill({ status: 429, code: "ThrottlingException", message: "Too many requests" }) });
    const err = await failure(ask("throttled-model"));
    expect(err.extra.type).toBe(bedrockProblemType("ThrottlingException"));
    expect(err.extra.type).toBe("/problems/bedrock-throttling-exception");
    expect(err.detail).toContain("Too many requests");
    expect((await requestsFor("throttled-model")).length).toBe(3);
  });

  it.each([
    [400, "ValidationException"],
    [403, "AccessDeniedException"],
  ])("does not retry %i %s", async (status, code) => {
    const model = `no-retry-${code}`;
    await control("script", {
      modelId: model,
      failures: [
        { status, code },
        { status, code },
      ],
    });
    const err = await failure(ask(model));
    expect(err.extra.awsErrorCode).toBe(code);
    expect((await requestsFor(model)).length).toBe(1);
  });

  it("retries network errors and names them", async () => {
    // Nothing listens on port 9, so the attempts are counted where they leave the worker.
    const spy = vi.spyOn(globalThis, "fetch");
    try {
      const err = await failure(ask("unreachable-model", withEnv({ BEDROCK_RUNTIME_ENDPOINT: "http://127.0.0.1:9", BEDROCK_MAX_ATTEMPTS: "3" })));
      expect(err.code).toBe("bedrock_error");
      expect(err.extra.type).toBe("/problems/bedrock-network-error");
      const attempts = spy.mock.calls.filter(([input]) => (input instanceof Request ? input.url : String(input)).startsWith("http://127.0.0.1:9/"));
      expect(attempts).toHaveLength(3);
    } finally {
      spy.mockRestore();
    }
  });

  it("times out a call that takes too long", async () => {
    await control("script", { modelId: "slow-model", delayMs: 1500 });
    const err = await failure(ask("slow-model", withEnv({ BEDROCK_CALL_TIMEOUT_MS: "150", BEDROCK_MAX_ATTEMPTS: "1" })));
    expect(err.extra.type).toBe("/problems/bedrock-request-timeout");
  });

  it("opens the model's breaker after consecutive failures, refuses calls while open, and closes after a good trial", async () => {
    const model = "breaker-model";
    await control("script", { modelId: model, failures: Array(5).fill({ status: 503, code: "ServiceUnavailableException" }) });
    const e = withEnv({ BEDROCK_MAX_ATTEMPTS: "1" });
    for (let i = 0; i < 5; i++) expect((await failure(ask(model, e))).code).toBe("bedrock_error");
    const open = await failure(ask(model, e));
    expect(open.code).toBe("circuit_open");
    expect((await requestsFor(model)).length).toBe(5); // the refused call never left the worker
    expect(breakerSnapshots().find((b) => b.key === model)).toMatchObject({ state: "open", consecutiveFailures: 5, timesOpened: 1 });
    await new Promise((r) => setTimeout(r, 350)); // test cooldown is 300 ms
    expect(breakerSnapshots().find((b) => b.key === model)?.state).toBe("half-open");
    const trial = await ask(model, e);
    expect(trial.text).toContain("echo:");
    expect(breakerSnapshots().find((b) => b.key === model)).toMatchObject({ state: "closed", consecutiveFailures: 0 });
  });

  it("does not count client errors against the breaker", async () => {
    const model = "validation-only-model";
    await control("script", { modelId: model, failures: Array(6).fill({ status: 400, code: "ValidationException" }) });
    for (let i = 0; i < 6; i++) expect((await failure(ask(model))).extra.awsErrorCode).toBe("ValidationException");
    expect(breakerSnapshots().find((b) => b.key === model)?.state).toBe("closed");
  });

  it("fails with bedrock_not_configured, saying how to configure it, when credentials are missing", async () => {
    const err = await failure(ask("any-model", withEnv({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined })));
    expect(err.code).toBe("bedrock_not_configured");
    expect(err.detail).toMatch(/AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY are missing/);
    expect(err.detail).toMatch(/wrangler secret put/);
  });
});

describe("InvokeAgent through the AWS SDK (SigV4 checked by the fixture) and its event stream", () => {
  it("collects the streamed chunks into the answer and keeps the session", async () => {
    const result = await invokeAgent(env as unknown as Env, { agentId: "AGENT1", aliasId: "ALIAS1", sessionId: "task-123", inputText: "plan the trip" });
    expect(result.text).toBe("agent AGENT1 says: plan the trip");
    expect(result.chunks).toBe(4);
    expect(result.sessionId).toBe("task-123");
    const [seen] = await requestsFor("AGENT1");
    expect(seen).toMatchObject({ signature: "valid", body: { inputText: "plan the trip" } });
  });

  it("decodes multi-byte text split across chunks", async () => {
    await control("agent", { agentId: "AGENT-UTF8", chunks: ["héllo ", "wörld ", "🙂"] });
    const result = await invokeAgent(env as unknown as Env, { agentId: "AGENT-UTF8", aliasId: "A", sessionId: "s1", inputText: "x" });
    expect(result.text).toBe("héllo wörld 🙂");
  });

  it("turns an exception event in the stream into a problem naming it", async () => {
    await control("agent", { agentId: "AGENT-EXC", chunks: ["partial"], streamException: "throttlingException" });
    const err = await failure(invokeAgent(env as unknown as Env, { agentId: "AGENT-EXC", aliasId: "A", sessionId: "s1", inputText: "x" }));
    expect(err.extra.type).toBe("/problems/bedrock-throttling-exception");
  });

  it("retries a throttled InvokeAgent", async () => {
    await control("agent", { agentId: "AGENT-RETRY", failures: [{ status: 429, code: "ThrottlingException" }] });
    const result = await invokeAgent(env as unknown as Env, { agentId: "AGENT-RETRY", aliasId: "A", sessionId: "s1", inputText: "again" });
    expect(result.text).toBe("agent AGENT-RETRY says: again");
    expect((await requestsFor("AGENT-RETRY")).length).toBe(2);
  });

  it("retries only in our loop: the SDK client makes one request per attempt", async () => {
    const throttled = { status: 429, code: "ThrottlingException" };
    await control("agent", { agentId: "AGENT-GIVEUP", failures: Array.from({ length: 9 }, () => throttled) });
    const err = await failure(invokeAgent(env as unknown as Env, { agentId: "AGENT-GIVEUP", aliasId: "A", sessionId: "s1", inputText: "x" }));
    expect(err.extra).toMatchObject({ type: "/problems/bedrock-throttling-exception", awsErrorCode: "ThrottlingException", awsStatus: 429 });
    // BEDROCK_MAX_ATTEMPTS defaults to 3; the SDK's own retries (3 by default) would make it 9.
    const seen = await requestsFor("AGENT-GIVEUP");
    expect(seen.map((r) => r.signature)).toEqual(["valid", "valid", "valid"]);
  });
});
