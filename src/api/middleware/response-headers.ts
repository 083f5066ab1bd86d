import type { Context } from "hono";
import type { AppEnv } from "../../env";

/**
 * Sets headers on the response a handler has already given. Once a response exists, Hono's `c.header()`
 * copies the whole Response (body and every header) on each call; the responses this app builds have
 * mutable headers, so they are set in place. A response with immutable headers (one fetched from a
 * Durable Object or the network) still goes through `c.header()`.
 */
export function setResponseHeaders(c: Context<AppEnv>, headers: Record<string, string>): void {
  try {
    const target = c.res.headers;
    for (const name in headers) target.set(name, headers[name] as string);
  } catch {
    for (const name in headers) c.header(name, headers[name] as string);
  }
}
