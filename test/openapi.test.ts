import { describe, expect, inject, it } from "vitest";
import { buildApp } from "../src/api/app";
import { api } from "./helpers";

const PREFIX = "/api/v1";
/** Served by the app but not API operations: the document itself and its HTML viewer. */
const UNDOCUMENTED = new Set(["GET /api/v1/openapi.json", "GET /api/v1/docs"]);

/** `/agents/{id}` in the document is `/api/v1/agents/:id` in the router. */
const routerPath = (template: string) => `${PREFIX}${template.replace(/\{([^}]+)\}/g, ":$1")}`;

/** A value each path parameter could plausibly have, so the router (not a pattern) decides. */
const sample = (name: string) => ({ version: "1.0.0", channel: "live", topic: "probe", name: "probe-workflow", key: "backup-probe.ndjson" })[name] ?? "probe1";

async function documentedOperations(): Promise<{ method: string; template: string }[]> {
  const doc = (await api("GET", "/api/v1/openapi.json", { token: null })).json as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).flatMap(([template, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), template })));
}

describe("OpenAPI document", () => {
  it("is valid OpenAPI 3.1 under a standard validator", async () => {
    const res = await api("GET", "/api/v1/openapi.json", { token: null });
    const check = await fetch(inject("openapiValidatorUrl"), { method: "POST", body: res.text });
    const result = (await check.json()) as { valid: boolean; version: string; errors: unknown[] };
    expect(result.errors).toEqual([]);
    expect(result.valid).toBe(true);
    expect(result.version).toBe("3.1");
  });

  it("describes the agent spec from the same schema that validates requests", async () => {
    const doc = (await api("GET", "/api/v1/openapi.json", { token: null })).json;
    expect(doc.components.schemas.AgentSpec).toBeDefined();
    expect(doc.paths["/agents"].post.requestBody.content["application/json"].schema.$ref).toBe("#/components/schemas/AgentSpec");
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
  });

  it("serves a docs page that loads nothing from the internet", async () => {
    const res = await api("GET", "/api/v1/docs", { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.text).toContain("/api/v1/openapi.json");
    expect(res.text).not.toMatch(/(src|href)="https?:/);
  });

  it("documents every route the app answers, at the path it answers on", async () => {
    const documented = new Set((await documentedOperations()).map(({ method, template }) => `${method} ${routerPath(template)}`));
    // Middleware is registered for ALL methods; every other entry is a route some handler answers.
    const served = new Set(
      buildApp()
        .routes.filter((r) => r.method !== "ALL" && r.path.startsWith(`${PREFIX}/`))
        .map((r) => `${r.method} ${r.path}`),
    );
    const undocumented = [...served].filter((r) => !documented.has(r) && !UNDOCUMENTED.has(r));
    const unserved = [...documented].filter((r) => !served.has(r));
    expect(undocumented).toEqual([]);
    expect(unserved).toEqual([]);
    expect(documented).toContain("GET /api/v1/squads/:id/stream");
    expect(documented).toContain("GET /api/v1/topics/:topic/subscriptions/:id/stream");
  });

  it("answers every documented operation at its path (never the app's no-route 404)", async () => {
    const operations = await documentedOperations();
    expect(operations.length).toBeGreaterThan(50);
    for (const { method, template } of operations) {
      const path = `${PREFIX}${template.replace(/\{([^}]+)\}/g, (_, name: string) => sample(name))}`;
      const res = await api(method, path, method === "GET" || method === "DELETE" ? {} : { body: {} });
      const noRoute = res.status === 404 && /^No route for /.test(res.json?.detail ?? "");
      expect(noRoute, `${method} ${path} answered ${res.status} ${res.text.slice(0, 200)}`).toBe(false);
      expect(res.status, `${method} ${path}`).not.toBe(405);
    }
  });
});
