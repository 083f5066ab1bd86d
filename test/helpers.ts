import { exports } from "cloudflare:workers";

export const ADMIN_KEY = "test-admin-key";

/** Calls the worker's own fetch handler, as a client would. */
export async function api(method: string, path: string, opts: { body?: unknown; token?: string | null; headers?: Record<string, string>; raw?: BodyInit } = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? ADMIN_KEY : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: BodyInit | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await exports.default.fetch(new Request(`http://localhost${path}`, { method, headers, body }));
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

export function codeSpec(name: string, version = "1.0.0", extra: Record<string, unknown> = {}) {
  return {
    name,
    version,
    kind: "code",
    description: `${name} agent`,
    capabilities: ["echo"],
    code: "export default { async run(input) { return input; } };",
    ...extra,
  };
}
