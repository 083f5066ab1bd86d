import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ZodError } from "zod";
import { AppError, errorCodes, type ErrorCode, type FieldError } from "../errors";
import type { AppEnv } from "../env";

export const problemType = (code: string) => `/problems/${code.replaceAll("_", "-")}`;

export function problemResponse(err: AppError, requestId?: string): Response {
  const { status, title } = errorCodes[err.code];
  const { errors, headers, type, ...rest } = err.extra;
  const body = {
    type: type ?? problemType(err.code),
    title,
    status,
    detail: err.detail,
    ...(errors?.length ? { errors } : {}),
    ...rest,
    ...(requestId ? { requestId } : {}),
  };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}

export function zodFieldErrors(error: ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join(".") || "(root)",
    message: issue.message,
  }));
}

export function validationError(error: ZodError, where = "body"): AppError {
  const errors = zodFieldErrors(error);
  const first = errors[0];
  return new AppError(
    "validation_failed",
    `Invalid ${where}: ${first ? `${first.path}: ${first.message}` : "does not match the schema"}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ""}`,
    { errors },
  );
}

/** Root error handler: problem+json for known errors; 5xx logs the cause and hides it. */
export function renderError(err: unknown, c: Context<AppEnv>): Response {
  const requestId = c.get("requestId");
  if (err instanceof AppError) return problemResponse(err, requestId);
  if (err instanceof HTTPException) return problemResponse(fromHttpException(err), requestId);
  console.error(JSON.stringify({ level: "error", requestId, message: String(err), stack: (err as Error)?.stack }));
  return problemResponse(new AppError("internal", `An unexpected error occurred. Quote request id ${requestId} when reporting it.`), requestId);
}

/** Hono's validators and helpers throw HTTPException; give each a stable problem code. */
function fromHttpException(err: HTTPException): AppError {
  if (/malformed json/i.test(err.message)) return new AppError("malformed_json", "The request body is not valid JSON.");
  if (/unsupported media type/i.test(err.message)) {
    return new AppError("unsupported_media_type", "Send the body as application/json (workflows also accept application/yaml).");
  }
  const code: ErrorCode = err.status === 413 ? "payload_too_large" : err.status === 401 ? "unauthorized" : err.status === 404 ? "not_found" : "bad_request";
  return new AppError(code, err.message || errorCodes[code].title);
}
