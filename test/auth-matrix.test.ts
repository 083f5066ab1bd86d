import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { secretEquals } from "../src/auth/credentials";
import { SCOPES, type Scope } from "../src/auth/scopes";
import { api, codeSpec } from "./helpers";

/** Representative endpoints and the one scope each needs. */
const endpoints: { name: string; scope: Scope; call: (token: string, n: number) => ReturnType<typeof api>; ok: number }[] = [
  { name: "GET /agents", scope: "agents:read", ok: 200, call: (token) => api("GET", "/api/v1/agents", { token }) },
  { name: "GET /agents/{id}", scope: "agents:read", ok: 200, call: (token) => api("GET", "/api/v1/agents/matrix-base", { token }) },
  { name: "POST /agents", scope: "agents:write", ok: 201, call: (token, n) => api("POST", "/api/v1/agents", { token, body: codeSpec(`matrix-${n}`) }) },
  {
    name: "PUT /agents/{id}/channels/{channel}",
    scope: "agents:write",
    ok: 200,
    call: (token) => api("PUT", "/api/v1/agents/matrix-base/channels/live", { token, body: { version: "1.0.0" } }),
  },
  { name: "GET /keys", scope: "keys:admin", ok: 200, call: (token) => api("GET", "/api/v1/keys", { token }) },
  { name: "POST /keys", scope: "keys:admin", ok: 201, call: (token) => api("POST", "/api/v1/keys", { token, body: { name: "made", scopes: ["keys:admin"] } }) },
];

const keyFor: Partial<Record<Scope, string>> = {};

beforeAll(async () => {
  expect((await api("POST", "/api/v1/agents", { body: codeSpec("matrix-base") })).status).toBe(201);
  for (const scope of SCOPES) {
    const res = await api("POST", "/api/v1/keys", { body: { name: `only ${scope}`, scopes: [scope] } });
    expect(res.status).toBe(201);
    keyFor[scope] = res.json.key;
  }
});

describe("no or bad credentials → 401 with WWW-Authenticate", () => {
  it.each([
    ["no Authorization header", {}],
    ["a non-bearer scheme", { authorization: "Basic dXNlcjpwYXNz" }],
    ["an empty bearer", { authorization: "Bearer " }],
  ])("%s", async (_name, headers) => {
    const res = await api("GET", "/api/v1/agents", { token: null, headers });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="t-developer-edge"');
    expect(res.json).toMatchObject({ type: "/problems/unauthorized", status: 401 });
  });

  it.each([
    ["an unknown tdk_ key", "tdk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /unknown API key/],
    ["a tdk_ key of the wrong shape", "tdk_short", /malformed API key/],
    ["a wrong admin key", "test-admin-kez", /unrecognised credential/],
    ["the admin key with a suffix", `${env.ADMIN_API_KEY}x`, /unrecognised credential/],
  ])("%s", async (_name, token, reason) => {
    const res = await api("GET", "/api/v1/agents", { token });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect(res.json.detail).toMatch(reason);
    expect(res.text).not.toContain(token);
  });

  it("a revoked key", async () => {
    const created = (await api("POST", "/api/v1/keys", { body: { name: "to revoke", scopes: [...SCOPES] } })).json;
    expect((await api("DELETE", `/api/v1/keys/${created.id}`)).status).toBe(204);
    for (const endpoint of endpoints) expect((await endpoint.call(created.key, 0)).status, endpoint.name).toBe(401);
  });

  it("writes nothing when refused", async () => {
    const before = await env.DB.prepare("select count(*) as n from agents").first<{ n: number }>();
    expect((await api("POST", "/api/v1/agents", { token: "tdk_bogus", body: codeSpec("never-written") })).status).toBe(401);
    expect((await api("POST", "/api/v1/agents", { token: keyFor["agents:read"]!, body: codeSpec("never-written") })).status).toBe(403);
    const after = await env.DB.prepare("select count(*) as n from agents").first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });
});

describe("each scope allows exactly its endpoints (403 otherwise)", () => {
  let n = 0;
  for (const scope of SCOPES) {
    for (const endpoint of endpoints) {
      const allowed = endpoint.scope === scope;
      it(`${scope} → ${endpoint.name}: ${allowed ? endpoint.ok : 403}`, async () => {
        const res = await endpoint.call(keyFor[scope]!, ++n);
        if (allowed) {
          expect(res.status).toBe(endpoint.ok);
        } else {
          expect(res.status).toBe(403);
          expect(res.json).toMatchObject({ type: "/problems/forbidden", requiredScope: endpoint.scope });
          expect(res.headers.get("www-authenticate")).toContain(`error="insufficient_scope", scope="${endpoint.scope}"`);
        }
      });
    }
  }

  it("the bootstrap admin key holds every scope", async () => {
    for (const endpoint of endpoints) expect((await endpoint.call(env.ADMIN_API_KEY!, ++n)).status, endpoint.name).toBe(endpoint.ok);
  });

  it("a JWT's scopes are enforced the same way", async () => {
    const jwt = await new SignJWT({ sub: "matrix", scope: "keys:admin" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(env.JWT_SECRET!));
    for (const endpoint of endpoints) expect((await endpoint.call(jwt, ++n)).status, endpoint.name).toBe(endpoint.scope === "keys:admin" ? endpoint.ok : 403);
  });
});

describe("public endpoints", () => {
  it.each(["/api/v1/health", "/api/v1/openapi.json", "/api/v1/docs"])("%s needs no credentials", async (path) => {
    expect((await api("GET", path, { token: null })).status).toBe(200);
  });
});

describe("secretEquals", () => {
  it("compares secrets of any length in constant time", async () => {
    expect(secretEquals("same-secret", "same-secret")).toBe(true);
    expect(secretEquals("same-secret", "same-secreT")).toBe(false);
    expect(secretEquals("short", "a-much-longer-secret")).toBe(false);
    expect(secretEquals("", "")).toBe(true);
    // Cut or zero-padded to the secret's length before comparing: the lengths must still match.
    expect(secretEquals("same-secret-and-more", "same-secret")).toBe(false);
    expect(secretEquals("abc", "abc\u0000")).toBe(false);
    expect(secretEquals("", "secret")).toBe(false);
    expect(secretEquals("sécret", "sécret")).toBe(true);
  });
});
