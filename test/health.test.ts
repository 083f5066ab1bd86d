import { describe, expect, it } from "vitest";
import { api } from "./helpers";

describe("health and docs", () => {
  it("reports status, build version and a D1 check without auth", async () => {
    const res = await api("GET", "/api/v1/health", { token: null });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: "ok", version: "0.1.0", checks: { d1: { ok: true } } });
  });

  it("serves an OpenAPI 3.1 document without auth", async () => {
    const res = await api("GET", "/api/v1/openapi.json", { token: null });
    expect(res.status).toBe(200);
    expect(res.json.openapi).toBe("3.1.0");
    expect(Object.keys(res.json.paths)).toContain("/agents/{id}");
  });

  it("unknown routes are problem+json 404", async () => {
    const res = await api("GET", "/api/v1/nope");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.json).toMatchObject({ status: 404, type: "/problems/not-found" });
  });
});
