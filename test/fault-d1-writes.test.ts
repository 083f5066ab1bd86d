import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { buildApp } from "../src/api/app";
import { nthWriteFails } from "./faulty-d1";
import { ADMIN_KEY, api, codeSpec } from "./helpers";

// Each write route, with D1 failing at each of its write round trips in turn: the answer is a 5xx problem, the
// database is exactly as before (no half-written record), and the same request retried without the fault succeeds.

const app = buildApp();

/** The API with `db` in place of the real D1 binding (everything else real). */
async function callWith(db: D1Database, req: Request) {
  const ctx = createExecutionContext();
  const res = await app.fetch(req, { ...env, DB: db }, ctx);
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type"), json: text ? JSON.parse(text) : undefined };
}

interface WriteRoute {
  name: string;
  /** What the route needs to exist first (run against the real D1). */
  setup?: (tag: string) => Promise<void>;
  request: (tag: string) => Request;
  ok: number[];
  /** The retried write is visible where a client looks for it. */
  visible: (tag: string) => Promise<boolean>;
}

const json = (method: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  new Request(`http://localhost/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

const mustCreate = async (method: string, path: string, body: unknown) => {
  const res = await api(method, path, { body });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
  return res;
};
const listed = async (path: string, pick: (item: any) => boolean) => ((await api("GET", path)).json.items as unknown[]).some(pick);
const suiteCases = [{ id: "c1", input: { text: "hi" }, checks: [{ type: "equals", path: "text", value: "hi" }] }];

const routes: WriteRoute[] = [
  {
    name: "POST /agents",
    request: (t) => json("POST", "/agents", codeSpec(`fa-${t}`)),
    ok: [201],
    visible: async (t) => (await api("GET", `/api/v1/agents/fa-${t}`)).status === 200,
  },
  {
    name: "PUT /agents/{id} (a new version)",
    setup: async (t) => void (await mustCreate("POST", "/api/v1/agents", codeSpec(`fv-${t}`))),
    request: (t) => json("PUT", `/agents/fv-${t}`, codeSpec(`fv-${t}`, "1.0.1")),
    ok: [201],
    visible: async (t) => (await api("GET", `/api/v1/agents/fv-${t}/versions/1.0.1`)).status === 200,
  },
  {
    name: "PUT /agents/{id}/channels/{channel}",
    setup: async (t) => {
      await mustCreate("POST", "/api/v1/agents", codeSpec(`fc-${t}`));
      await mustCreate("PUT", `/api/v1/agents/fc-${t}`, codeSpec(`fc-${t}`, "1.0.1"));
    },
    request: (t) => json("PUT", `/agents/fc-${t}/channels/canary`, { version: "1.0.1", reason: "fault test" }),
    ok: [200],
    visible: async (t) => (await api("GET", `/api/v1/agents/fc-${t}`)).json.channels.canary === "1.0.1",
  },
  {
    name: "POST /squads (with Idempotency-Key)",
    setup: async (t) => void (await mustCreate("POST", "/api/v1/agents", codeSpec(`fs-${t}`))),
    request: (t) => json("POST", "/squads", { name: `fs-${t}`, members: [{ agent: `fs-${t}` }] }, { "idempotency-key": `fs-${t}` }),
    ok: [201, 200],
    visible: (t) => listed("/api/v1/squads?limit=100", (s) => s.name === `fs-${t}`),
  },
  {
    name: "POST /keys",
    request: (t) => json("POST", "/keys", { name: `fk-${t}`, scopes: ["agents:read"] }),
    ok: [201],
    visible: (t) => listed("/api/v1/keys?limit=100", (k) => k.name === `fk-${t}`),
  },
  {
    name: "POST /topics/{topic}/subscriptions",
    request: (t) => json("POST", `/topics/ft-${t}/subscriptions`, { type: "websocket" }),
    ok: [201],
    visible: (t) => listed(`/api/v1/topics/ft-${t}/subscriptions`, () => true),
  },
  {
    name: "POST /suites",
    setup: async (t) => void (await mustCreate("POST", "/api/v1/agents", codeSpec(`fu-${t}`))),
    request: (t) => json("POST", "/suites", { name: `fu-${t}`, agent: `fu-${t}`, cases: suiteCases }),
    ok: [201],
    visible: (t) => listed("/api/v1/suites?limit=100", (s) => s.name === `fu-${t}`),
  },
  {
    name: "POST /workflows",
    setup: async (t) => void (await mustCreate("POST", "/api/v1/agents", codeSpec(`fw-${t}`))),
    request: (t) => json("POST", "/workflows", { name: `fw-${t}`, steps: [{ id: "a", agent: `fw-${t}`, input: "{{input}}" }] }),
    ok: [201],
    visible: async (t) => (await api("GET", `/api/v1/workflows/fw-${t}`)).status === 200,
  },
  {
    name: "PUT /agents/{id}/evolution",
    setup: async (t) => {
      await mustCreate("POST", "/api/v1/agents", codeSpec(`fe-${t}`, "1.0.0", { params: { k: 1 } }));
      await mustCreate("POST", "/api/v1/suites", { name: `fe-${t}`, agent: `fe-${t}`, cases: suiteCases });
    },
    request: (t) => json("PUT", `/agents/fe-${t}/evolution`, { suite: `fe-${t}`, population: 2, generationsPerRun: 1, genes: { k: { min: 0, max: 2, step: 1 } } }),
    ok: [200],
    visible: async (t) => (await api("GET", `/api/v1/agents/fe-${t}/evolution`)).status === 200,
  },
];

/** Every row of every table of ours, in a stable order: "no partial state" means this did not change. */
async function snapshot(): Promise<Record<string, string[]>> {
  const tables = await env.DB.prepare(
    "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '_cf_%' and name != 'd1_migrations'",
  ).all<{ name: string }>();
  const out: Record<string, string[]> = {};
  for (const { name } of tables.results) {
    const rows = await env.DB.prepare(`select * from "${name}"`).all();
    out[name] = rows.results.map((r) => JSON.stringify(r)).sort();
  }
  return out;
}

describe("a D1 write that fails leaves nothing half-done, and the retry succeeds", () => {
  // A 5xx logs its cause; the injected ones are expected here, so keep them out of the output (and count them).
  let logged: ReturnType<typeof vi.spyOn>;
  beforeEach(() => void (logged = vi.spyOn(console, "error").mockImplementation(() => {})));
  afterEach(() => logged.mockRestore());

  for (const route of routes) {
    it(route.name, async () => {
      // Learn how many write round trips the route makes, on inputs of its own.
      await route.setup?.("count");
      const counted = nthWriteFails(env.DB, 0);
      const first = await callWith(counted.db, route.request("count"));
      expect(route.ok, JSON.stringify(first.json)).toContain(first.status);
      const writes = counted.writes.length;
      expect(writes, "the route writes to D1").toBeGreaterThan(0);

      for (let n = 1; n <= writes; n++) {
        const tag = `n${n}`;
        await route.setup?.(tag);
        const before = await snapshot();
        const faulty = nthWriteFails(env.DB, n);
        const failed = await callWith(faulty.db, route.request(tag));
        const where = `${route.name}, write ${n} of ${writes}: ${JSON.stringify(faulty.failed[0])}`;
        expect(faulty.failed, where).toHaveLength(1);
        expect(failed.status, where).toBeGreaterThanOrEqual(500);
        expect(failed.type, where).toContain("application/problem+json");
        expect(failed.json, where).toMatchObject({ status: failed.status });
        expect(await snapshot(), `${where} left partial state`).toEqual(before);
        expect(
          logged.mock.calls.some(([line]: unknown[]) => /injected failure|Failed query/.test(String(line))),
          `${where}: the cause is logged`,
        ).toBe(true);
        expect(await route.visible(tag), where).toBe(false);

        const retried = await callWith(env.DB, route.request(tag));
        expect(route.ok, `${where}: retry ${JSON.stringify(retried.json)}`).toContain(retried.status);
        expect(await route.visible(tag), where).toBe(true);
      }
    });
  }
});
