import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { bodyArbitrary, encodePathSegment, paramArbitrary, type FuzzRequest, type OpenApiDoc, type Operation } from "./fuzz/arbitraries";
import regressions from "./fuzz/regressions.json";
import { buildApp } from "../src/api/app";
import { apiVia, codeSpec } from "./helpers";
import { createSquad, register } from "./squad-helpers";

/**
 * Fuzzing every route of /api/v1/openapi.json through the real app (issue 14, item 6). Invariants: no 5xx;
 * every 4xx is problem+json with its status; a refused request changes nothing the list endpoints show.
 * `npm test` runs a bounded number of cases; `npm run fuzz` (FUZZ_RUNS, FUZZ_SEED, FUZZ_PATH) runs more or
 * replays one. A failure is written to test/fuzz/failures/<seed>.json; fixed ones go to regressions.json.
 *
 * Requests go to the app's fetch handler directly (the Worker's fetch is that handler), not through
 * `exports.default`: @cloudflare/vitest-pool-workers 0.15 wraps its entrypoint wrapper's prototype in one more
 * Proxy on every such call (cloudflare/workers-sdk#15092; the pool release with the fix needs a wrangler past the line npm resolves for Node 20), and
 * a file's requests slow down until they overflow the stack inside the pool (a fuzz run did at its ~330th case).
 */

/** Routes left out, and why: WebSocket upgrades; whole-database streams and restores; routes that start Workflows and AWS pushes in the background. */
const SKIPPED = new Set([
  "GET /stream",
  "GET /squads/{id}/stream",
  "GET /backup",
  "POST /restore",
  "POST /backups",
  "POST /evolution/runs",
  "POST /agents/{id}/aws-deployments",
  "POST /aws-deployments/{id}/rollback",
]);

const budget = inject("fuzz");
const app = buildApp();
const api = apiVia((request) => app.fetch(request, env, createExecutionContext()));
/** A request that hangs is a bug too (a client would time out). */
const ANSWER_WITHIN_MS = 10_000;
const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

let doc: OpenApiDoc;
let known: Record<string, string[]> = {};
let squadId = "";

/** What the list endpoints show: a refused request must leave all of it as it was. Squad tasks by id only (they finish in the background). */
async function snapshot(): Promise<string> {
  const paths = ["/agents", "/squads", "/workflows", "/suites", "/keys", "/topics", "/topics/fuzz/subscriptions", "/agents/fuzz-agent/versions", "/agents/fuzz-agent/deployments"];
  // A list's items, or only the status when it is refused (a problem carries a fresh requestId each time).
  const parts = await Promise.all(
    paths.map(async (p) => {
      const res = await api("GET", `/api/v1${p}?limit=100`);
      return [p, res.status === 200 ? (res.json.items ?? res.json) : res.status] as const;
    }),
  );
  const tasks = (await api("GET", `/api/v1/squads/${squadId}/tasks?limit=100`)).json?.items?.map((t: { taskId?: string; id?: string }) => t.taskId ?? t.id);
  return JSON.stringify([...parts, ["tasks", tasks]]);
}

function requestArbitrary(method: string, template: string, op: Operation): fc.Arbitrary<FuzzRequest> {
  const params = (op.parameters ?? []).filter((p) => p.in !== "header");
  const pathParams = params.filter((p) => p.in === "path");
  const queryParams = params.filter((p) => p.in === "query");
  const json = op.requestBody?.content["application/json"];
  return fc
    .record({
      path: fc.tuple(...pathParams.map((p) => paramArbitrary(p.schema, doc, known[p.name] ?? []))),
      query: fc.tuple(...queryParams.map((p) => fc.option(paramArbitrary(p.schema, doc, known[p.name] ?? []), { nil: undefined }))),
      body: json ? bodyArbitrary(json.schema, doc) : fc.constant(undefined),
      contentType: fc.oneof(
        { arbitrary: fc.constant("application/json"), weight: 9 },
        { arbitrary: fc.constantFrom("text/plain", "application/x-www-form-urlencoded", ""), weight: 1 },
      ),
    })
    .map(({ path, query, body, contentType }) => {
      let url = template;
      pathParams.forEach((p, i) => {
        url = url.replace(`{${p.name}}`, encodePathSegment(path[i]!));
      });
      const search = new URLSearchParams();
      queryParams.forEach((p, i) => {
        if (query[i] !== undefined) search.set(p.name, query[i]!);
      });
      const qs = search.toString();
      return { method, path: `/api/v1${url}${qs ? `?${qs}` : ""}`, ...(body !== undefined ? { body, contentType } : {}) };
    });
}

/** The lists as of the last change; reads change nothing, so only a write needs a fresh look. */
let lists = "";

/** Sends one request and checks the invariants; answers a description of the broken one, or null. */
async function violation(req: FuzzRequest): Promise<string | null> {
  const mutating = MUTATING.has(req.method);
  const before = lists;
  const headers: Record<string, string> = req.contentType ? { "content-type": req.contentType } : {};
  const answer = api(req.method, req.path, { headers, ...(req.body !== undefined ? { raw: req.body } : {}) });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const res = await Promise.race([answer, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ANSWER_WITHIN_MS)))]).finally(() =>
    clearTimeout(timer as ReturnType<typeof setTimeout>),
  );
  if (!res) return `no answer within ${ANSWER_WITHIN_MS} ms`;
  if (res.status >= 500) return `answered ${res.status}: ${res.text.slice(0, 500)}`;
  if (res.status >= 400) {
    if (!res.headers.get("content-type")?.startsWith("application/problem+json"))
      return `${res.status} is not problem+json (${res.headers.get("content-type")}): ${res.text.slice(0, 300)}`;
    if (res.json?.status !== res.status || typeof res.json?.type !== "string" || typeof res.json?.title !== "string")
      return `${res.status} problem lacks type/title/status: ${res.text.slice(0, 300)}`;
    if (mutating) {
      lists = await snapshot();
      if (lists !== before) return `refused with ${res.status} (${res.text.slice(0, 200)}) but changed what the lists show: ${changed(before, lists)}`;
    }
  } else if (mutating) lists = await snapshot();
  return null;
}

/** Which list differs, and the first place it does. */
function changed(before: string, after: string): string {
  const a = new Map(JSON.parse(before) as [string, unknown][]);
  const b = new Map(JSON.parse(after) as [string, unknown][]);
  const list = [...b.keys()].find((k) => JSON.stringify(a.get(k)) !== JSON.stringify(b.get(k)));
  if (!list) return "(no list differs)";
  const [x, y] = [JSON.stringify(a.get(list)), JSON.stringify(b.get(list))];
  let i = 0;
  while (i < x.length && x[i] === y[i]) i++;
  return `${list}: …${x.slice(Math.max(0, i - 80), i + 120)}… became …${y.slice(Math.max(0, i - 80), i + 120)}…`;
}

const show = (req: FuzzRequest) => ({ ...req, ...(req.body && req.body.length > 2000 ? { body: `${req.body.slice(0, 2000)}… (${req.body.length} chars)` } : {}) });

beforeAll(async () => {
  doc = (await api("GET", "/api/v1/openapi.json", { token: null })).json;
  await register(codeSpec("fuzz-agent"));
  squadId = await createSquad({ name: "fuzz squad", members: [{ agent: "fuzz-agent" }] });
  await api("POST", "/api/v1/workflows", { body: { name: "fuzz-flow", version: 1, steps: [{ id: "a", agent: "fuzz-agent", input: "$.input" }] } });
  await api("POST", "/api/v1/topics/fuzz/subscriptions", { body: { type: "websocket" } });
  lists = await snapshot();
  known = {
    id: ["fuzz-agent", squadId],
    version: ["1.0.0", "1"],
    channel: ["live", "canary"],
    topic: ["fuzz", "system"],
    name: ["fuzz-flow"],
    agent: ["fuzz-agent"],
    status: ["queued", "completed"],
  };
});

describe("fuzzing every documented route", () => {
  it("keeps the regressions it found fixed", async () => {
    for (const req of regressions as FuzzRequest[]) expect(await violation(req), JSON.stringify(show(req))).toBeNull();
  });

  it(
    "answers no 5xx, only problem+json refusals, and refusals change nothing",
    async () => {
      const operations = Object.entries(doc.paths).flatMap(([template, ops]) =>
        Object.entries(ops)
          .map(([m, op]) => ({ method: m.toUpperCase(), template, op }))
          .filter(({ method, template }) => !SKIPPED.has(`${method} ${template}`)),
      );
      expect(operations.length).toBeGreaterThan(50);
      const arbitrary = fc.oneof(...operations.map(({ method, template, op }) => requestArbitrary(method, template, op)));
      const result = await fc.check(
        fc.asyncProperty(arbitrary, async (req) => {
          const broken = await violation(req);
          if (broken) throw new Error(broken);
        }),
        { numRuns: budget.runs, ...(budget.seed !== undefined ? { seed: budget.seed } : {}), ...(budget.path ? { path: budget.path } : {}), endOnFailure: false },
      );
      if (result.failed) {
        const failure = {
          seed: result.seed,
          path: result.counterexamplePath,
          request: show(result.counterexample![0]),
          error: String((result.errorInstance as Error)?.message ?? result.errorInstance),
        };
        const file = await (await fetch(budget.failuresUrl, { method: "POST", body: JSON.stringify(failure) })).text();
        expect.fail(`fuzz failure kept in ${file} (replay: FUZZ_SEED=${failure.seed} FUZZ_PATH=${failure.path} npm run fuzz):\n${JSON.stringify(failure, null, 2)}`);
      }
    },
    Math.max(120_000, budget.runs * 2_000),
  );
});
