import { describe, expect, it } from "vitest";
import { CircuitBreaker } from "../src/models/breaker";
import { awsErrorCode, bedrockProblemType } from "../src/models/client";
import { bedrockConfig } from "../src/models/config";
import { converseBody } from "../src/models/converse";
import { backoffDelay, isRetryable } from "../src/models/retry";
import type { Env } from "../src/env";
import type { AppError } from "../src/errors";

describe("retry policy", () => {
  it("retries throttling, 5xx, network errors and timeouts, never validation or access errors", () => {
    expect(isRetryable({ kind: "aws-error", status: 429, code: "ThrottlingException" })).toBe(true);
    expect(isRetryable({ kind: "aws-error", status: 503, code: "ServiceUnavailableException" })).toBe(true);
    expect(isRetryable({ kind: "aws-error", status: 502, code: "UnknownError" })).toBe(true);
    expect(isRetryable({ kind: "network", message: "reset" })).toBe(true);
    expect(isRetryable({ kind: "timeout" })).toBe(true);
    expect(isRetryable({ kind: "aws-error", status: 400, code: "ValidationException" })).toBe(false);
    expect(isRetryable({ kind: "aws-error", status: 403, code: "AccessDeniedException" })).toBe(false);
    expect(isRetryable({ kind: "aws-error", status: 404, code: "ResourceNotFoundException" })).toBe(false);
  });

  it("backs off exponentially with full jitter under a cap", () => {
    const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 };
    expect([0, 1, 2, 3, 4].map((a) => backoffDelay(policy, a, () => 0.999))).toEqual([99, 199, 399, 799, 999]);
    expect(backoffDelay(policy, 3, () => 0)).toBe(0);
  });
});

describe("circuit breaker", () => {
  it("opens after N consecutive failures, half-opens after the cooldown with one trial, and closes on success", () => {
    const b = new CircuitBreaker("m", { failureThreshold: 3, cooldownMs: 1_000 });
    for (let i = 0; i < 2; i++) b.onFailure(0);
    expect(b.tryAcquire(0)).toBe(true);
    b.onSuccess(); // a success resets the count
    for (let i = 0; i < 3; i++) b.onFailure(10);
    expect(b.snapshot(10)).toMatchObject({ state: "open", retryAt: 1_010, timesOpened: 1 });
    expect(b.tryAcquire(500)).toBe(false);
    expect(b.tryAcquire(1_010)).toBe(true); // the trial
    expect(b.tryAcquire(1_011)).toBe(false); // only one trial at a time
    b.onFailure(1_020); // the trial failed: open again
    expect(b.snapshot(1_020)).toMatchObject({ state: "open", timesOpened: 2 });
    expect(b.tryAcquire(2_020)).toBe(true);
    b.onSuccess();
    expect(b.snapshot(2_021)).toMatchObject({ state: "closed", consecutiveFailures: 0 });
  });
});

describe("AWS errors", () => {
  it("reads the code from x-amzn-ErrorType or the body and names it in the problem type", () => {
    expect(awsErrorCode(new Headers({ "x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/" }), "{}")).toBe("ThrottlingException");
    expect(awsErrorCode(new Headers(), '{"__type":"com.amazon.coral.service#AccessDeniedException"}')).toBe("AccessDeniedException");
    expect(awsErrorCode(new Headers(), "<html>")).toBe("UnknownError");
    expect(bedrockProblemType("ModelNotReadyException")).toBe("/problems/bedrock-model-not-ready-exception");
  });
});

describe("configuration", () => {
  const base = { AWS_REGION: "eu-west-1", AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "secret" } as unknown as Env;
  it("defaults to the regional AWS endpoints and accepts overrides", () => {
    expect(bedrockConfig(base)).toMatchObject({
      runtimeEndpoint: "https://bedrock-runtime.eu-west-1.amazonaws.com",
      agentRuntimeEndpoint: "https://bedrock-agent-runtime.eu-west-1.amazonaws.com",
      retry: { maxAttempts: 3 },
    });
    expect(bedrockConfig({ ...base, BEDROCK_RUNTIME_ENDPOINT: "http://127.0.0.1:9000/" } as Env).runtimeEndpoint).toBe("http://127.0.0.1:9000");
  });
  it("says what is missing and how to set it", () => {
    const err = (() => {
      try {
        bedrockConfig({ AWS_REGION: "eu-west-1", AWS_ACCESS_KEY_ID: " " } as unknown as Env);
      } catch (e) {
        return e as AppError;
      }
    })();
    expect(err?.code).toBe("bedrock_not_configured");
    expect(err?.detail).toContain("AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY are missing");
    expect(() => bedrockConfig({ ...base, AWS_REGION: "mars" } as Env)).toThrow(/AWS_REGION/);
  });
});

describe("Converse wire shape", () => {
  it("builds Bedrock's request body", () => {
    expect(converseBody({ modelId: "m", messages: [{ role: "user", content: "hi" }], system: "be nice", maxTokens: 10, temperature: 0 })).toEqual({
      messages: [{ role: "user", content: [{ text: "hi" }] }],
      system: [{ text: "be nice" }],
      inferenceConfig: { maxTokens: 10, temperature: 0 },
    });
  });
});
