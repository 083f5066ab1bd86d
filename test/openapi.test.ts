import { describe, expect, inject, it } from "vitest";
import { api } from "./helpers";

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
});
