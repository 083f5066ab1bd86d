import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, codeSpec } from "./helpers";

describe("unexpected failures", () => {
  it("answer 500 problem+json with a request id and no stack, SQL or secret", async () => {
    await api("POST", "/api/v1/agents", { body: codeSpec("fragile") });
    // Break the database under the API: the next read of this table fails inside D1.
    await env.DB.exec("DROP TABLE deployments");
    const res = await api("GET", "/api/v1/agents/fragile/deployments");
    expect(res.status).toBe(500);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.json).toMatchObject({ type: "/problems/internal", status: 500 });
    expect(res.json.requestId).toBe(res.headers.get("x-request-id"));
    expect(res.json.detail).toContain(res.json.requestId);
    expect(res.text).not.toMatch(/deployments|sqlite|SQL|at .*\.ts|test-admin-key/i);
  });
});
