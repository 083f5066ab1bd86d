import type { RetryPolicy } from "./config";

/** What one Bedrock attempt ended in, as far as retrying is concerned. */
export type AttemptOutcome = { kind: "ok" } | { kind: "aws-error"; status: number; code: string } | { kind: "network"; message: string } | { kind: "timeout" };

/** AWS error codes worth another attempt: the service is busy or briefly broken. */
const RETRYABLE_CODES = new Set([
  "ThrottlingException",
  "TooManyRequestsException",
  "ServiceUnavailableException",
  "InternalServerException",
  "InternalFailure",
  "ModelNotReadyException",
  "ServiceQuotaExceededException",
  "DependencyFailedException",
  "BadGatewayException",
  "RequestTimeout",
  "RequestTimeoutException",
]);

/** Codes that will fail the same way every time: never retried. */
const FINAL_CODES = new Set([
  "ValidationException",
  "AccessDeniedException",
  "ResourceNotFoundException",
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "ConflictException",
  "ModelErrorException",
]);

export function isRetryable(outcome: AttemptOutcome): boolean {
  switch (outcome.kind) {
    case "ok":
      return false;
    case "network":
    case "timeout":
      return true;
    case "aws-error":
      if (FINAL_CODES.has(outcome.code)) return false;
      return RETRYABLE_CODES.has(outcome.code) || outcome.status === 429 || outcome.status >= 500;
  }
}

/** Whether the failure says something about the model's health (and so counts toward its breaker). */
export function countsAgainstBreaker(outcome: AttemptOutcome): boolean {
  return isRetryable(outcome);
}

/** Exponential backoff with full jitter: a random delay in [0, min(max, base * 2^attempt)). */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}
