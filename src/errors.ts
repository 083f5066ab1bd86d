/**
 * The one error type for the whole system. Domain code throws it with a stable code;
 * the API renders it as application/problem+json using the table below.
 */
export const errorCodes = {
  bad_request: { status: 400, title: "Bad request" },
  malformed_json: { status: 400, title: "Malformed JSON" },
  validation_failed: { status: 422, title: "Validation failed" },
  unauthorized: { status: 401, title: "Unauthorized" },
  forbidden: { status: 403, title: "Forbidden" },
  not_found: { status: 404, title: "Not found" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "Conflict" },
  payload_too_large: { status: 413, title: "Payload too large" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  spec_too_large: { status: 422, title: "Agent spec too large" },
  unresolved_dependency: { status: 422, title: "Unresolved dependency" },
  dependency_cycle: { status: 422, title: "Dependency cycle" },
  rate_limited: { status: 429, title: "Too many requests" },
  internal: { status: 500, title: "Internal server error" },
  bedrock_not_configured: { status: 503, title: "Bedrock is not configured" },
  bedrock_error: { status: 502, title: "Bedrock error" },
  circuit_open: { status: 503, title: "Circuit open" },
  agent_failed: { status: 422, title: "Agent run failed" },
  agent_timeout: { status: 504, title: "Agent run timed out" },
  agent_module_invalid: { status: 422, title: "Agent module invalid" },
  agent_output_invalid: { status: 422, title: "Agent output invalid" },
  agent_output_too_large: { status: 422, title: "Agent output too large" },
  unavailable: { status: 503, title: "Service unavailable" },
  budget_exceeded: { status: 422, title: "Evolution budget exceeded" },
  not_evolvable: { status: 422, title: "Agent has no evolution policy" },
  workflow_invalid: { status: 422, title: "Invalid workflow" },
  messaging_not_configured: { status: 503, title: "Messaging is not configured" },
  aws_not_configured: { status: 422, title: "AWS is not configured" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCodes;

export interface FieldError {
  path: string;
  message: string;
}

export class AppError extends Error {
  override readonly name = "AppError";
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string>; type?: string; [k: string]: unknown } = {},
  ) {
    super(detail);
  }
}

/** A result shape that survives Durable Object RPC, where only an Error's name and message cross. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; detail: string; errors?: FieldError[] };

export function unwrap<T>(outcome: Outcome<T>): T {
  if (outcome.ok) return outcome.value;
  throw new AppError(outcome.code, outcome.detail, outcome.errors ? { errors: outcome.errors } : {});
}

/** Whether a D1 write failed on a unique key: the row exists already (a repeat, or a concurrent writer that won). */
export const isUniqueViolation = (err: unknown): boolean => /UNIQUE constraint failed/i.test(String((err as Error)?.message ?? err));
