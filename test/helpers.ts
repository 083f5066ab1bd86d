import { exports } from "cloudflare:workers";
import type { RunRecord } from "../src/runtime/run-records";

export const ADMIN_KEY = "test-admin-key";

type ApiOptions = { body?: unknown; token?: string | null; headers?: Record<string, string>; raw?: BodyInit };

/** Calls the worker's own fetch handler, as a client would. */
export const api = apiVia((request) => exports.default.fetch(request));

/** `api` through another fetch handler (the fuzz calls the app itself: see fuzz-openapi.test.ts). */
export function apiVia(fetcher: (request: Request) => Response | Promise<Response>) {
  return async (method: string, path: string, opts: ApiOptions = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? ADMIN_KEY : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: BodyInit | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await fetcher(new Request(`http://localhost${path}`, { method, headers, body }));
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  };
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

/** A finished run's record as the run writer stores it, for tests of run records. */
export const runRecord = (id: string, extra: Partial<RunRecord> = {}): RunRecord => ({
  id,
  agentId: null,
  agentName: "recorded",
  version: "1.0.0",
  kind: "code",
  contentHash: "h".repeat(64),
  actor: "test",
  source: "test",
  sessionId: null,
  status: "succeeded",
  input: JSON.stringify({ n: id }),
  output: JSON.stringify("ok"),
  errorCode: null,
  errorType: null,
  errorDetail: null,
  limitViolation: false,
  modelId: null,
  stopReason: null,
  inputTokens: null,
  outputTokens: null,
  totalTokens: null,
  modelLatencyMs: null,
  logs: null,
  startedAt: 1_700_000_000_000,
  finishedAt: 1_700_000_000_005,
  durationMs: 5,
  traceId: null,
  ...extra,
});
