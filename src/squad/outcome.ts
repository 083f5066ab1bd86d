import type { ZodError } from "zod";
import { AppError, type FieldError, type Outcome } from "../errors";

const isZodError = (err: unknown): err is ZodError => (err as Error)?.name === "ZodError" && Array.isArray((err as ZodError).issues);

/** Turns a Durable Object method's result or error into an Outcome, the only error shape that survives RPC. */
export async function outcome<T>(work: () => T | Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (err) {
    if (err instanceof AppError) return { ok: false, code: err.code, detail: err.detail, ...(err.extra.errors ? { errors: err.extra.errors } : {}) };
    if (isZodError(err)) {
      const errors: FieldError[] = err.issues.map((i) => ({ path: i.path.map(String).join(".") || "(root)", message: i.message }));
      return { ok: false, code: "validation_failed", detail: `Invalid input: ${errors[0]?.path}: ${errors[0]?.message}`, errors };
    }
    console.error(JSON.stringify({ level: "error", where: "squad", message: String(err), stack: (err as Error)?.stack }));
    return { ok: false, code: "internal", detail: "The squad hit an unexpected error." };
  }
}

/** A problem+json response from inside the Durable Object (its fetch serves only the stream upgrade). */
export function problem(status: number, type: string, title: string, detail: string): Response {
  return new Response(JSON.stringify({ type: `/problems/${type}`, title, status, detail }), { status, headers: { "content-type": "application/problem+json" } });
}
