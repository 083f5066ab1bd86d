import { describe, expect, it } from "vitest";
import { api } from "./helpers";

/** Which requests skip bearer auth is declared by the routes themselves (publicRoute, streamTokenRoute in src/api/middleware/access.ts). */
describe("auth is skipped only where a route declares it", () => {
  it("public routes answer without credentials, for their own method only", async () => {
    expect((await api("GET", "/api/v1/health", { token: null })).status).toBe(200);
    expect((await api("GET", "/api/v1/openapi.json", { token: null })).status).toBe(200);
    expect((await api("GET", "/api/v1/docs", { token: null })).status).toBe(200);
    expect((await api("POST", "/api/v1/health", { token: null })).status).toBe(401);
  });

  it("a ?token= opens only stream routes; the stream's owner then judges it", async () => {
    // Without a WebSocket upgrade the stream routes answer 400: auth let them through to the handler.
    for (const path of ["/api/v1/squads/sqd_x/stream?token=t", "/api/v1/stream?token=t", "/api/v1/topics/probe/subscriptions/sub_x/stream?token=t"]) {
      const res = await api("GET", path, { token: null });
      expect(res.status, path).not.toBe(401);
    }
    for (const path of [
      "/api/v1/agents?token=t",
      "/api/v1/squads/sqd_x/events?token=t",
      "/api/v1/squads/sqd_x?token=t",
      "/api/v1/stream-token?token=t",
      "/api/v1/topics?token=t",
    ]) {
      expect((await api("GET", path, { token: null })).status, path).toBe(401);
    }
    expect((await api("POST", "/api/v1/squads/sqd_x/stream-token?token=t", { token: null })).status).toBe(401);
  });

  it("path spellings near the public and stream routes still need credentials", async () => {
    for (const path of [
      "/api/v1/health/../agents",
      "/api/v1/health/x",
      "/api/v1//agents",
      "/api/v1/agents/..%2fhealth",
      "/api/v1/squads/sqd_x/stream/tasks?token=t",
      "/api/v1/squads/sqd_x/stream/x?token=t",
      "/api/v1/squads/a/b/stream?token=t",
      "/api/v1/openapi.json/x",
    ]) {
      const res = await api("GET", path, { token: null });
      expect([401, 404], `${path}: ${res.status}`).toContain(res.status);
      if (res.status === 404) expect(res.json.detail, path).toMatch(/^No route for /);
    }
  });

  it("a stream request with a bearer header is authenticated like any other", async () => {
    const res = await api("GET", "/api/v1/squads/sqd_x/stream?token=t", { token: "tdk_not_a_real_key" });
    expect(res.status).toBe(401);
  });
});
