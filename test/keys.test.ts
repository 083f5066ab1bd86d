import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { API_KEY_SHAPE, hashApiKey, keyObjectName } from "../src/auth/keys";
import type { RateLimiter } from "../src/auth/rate-limiter";
import { sha256Hex } from "../src/registry/canonical";
import { api } from "./helpers";
import { apiKeyLeases } from "../src/auth/token-lease";

async function createKey(body: unknown, token?: string) {
  return api("POST", "/api/v1/keys", { body, token });
}

describe("API key lifecycle", () => {
  it("creates a key, shows it once, and stores only its SHA-256", async () => {
    const res = await createKey({ name: "ci", scopes: ["agents:read", "agents:write"] });
    expect(res.status).toBe(201);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const created = res.json;
    expect(created).toMatchObject({ name: "ci", scopes: ["agents:read", "agents:write"], createdBy: "admin", revokedAt: null });
    expect(created.id).toMatch(/^key_/);
    // tdk_ + base64url of 32 random bytes (43 characters, no padding).
    expect(created.key).toMatch(API_KEY_SHAPE);
    expect(created.key).toMatch(/^tdk_[A-Za-z0-9_-]{43}$/);
    expect(created.key.startsWith(created.prefix)).toBe(true);
    expect(created.prefix.length).toBeLessThan(created.key.length / 2);

    const row = await env.DB.prepare("select * from api_keys where id = ?").bind(created.id).first<Record<string, unknown>>();
    expect(row?.hash).toBe(await sha256Hex(created.key));
    expect(Object.values(row ?? {})).not.toContain(created.key);

    const got = await api("GET", `/api/v1/keys/${created.id}`);
    expect(got.status).toBe(200);
    expect(got.json).toEqual({ ...created, key: undefined });
    expect(got.text).not.toContain(created.key);
  });

  it("two keys never collide", async () => {
    const [a, b] = await Promise.all([createKey({ name: "a", scopes: ["agents:read"] }), createKey({ name: "b", scopes: ["agents:read"] })]);
    expect(a.json.key).not.toBe(b.json.key);
    expect(a.json.id).not.toBe(b.json.id);
  });

  it("the key authenticates as key:<id> with exactly its scopes", async () => {
    const { json: key } = await createKey({ name: "writer", scopes: ["agents:write"] });
    const created = await api("POST", "/api/v1/agents", {
      token: key.key,
      body: { name: "keyed-agent", version: "1.0.0", kind: "code", description: "x", capabilities: [], code: "export default {}" },
    });
    expect(created.status).toBe(201);
    const agent = await api("GET", "/api/v1/agents/keyed-agent/versions/1.0.0");
    expect(agent.json.createdBy).toBe(`key:${key.id}`);
    expect((await api("GET", "/api/v1/agents", { token: key.key })).status).toBe(403);
  });

  it("revocation takes effect on the very next request and is idempotent", async () => {
    const { json: key } = await createKey({ name: "short-lived", scopes: ["agents:read"] });
    expect((await api("GET", "/api/v1/agents", { token: key.key })).status).toBe(200);

    expect((await api("DELETE", `/api/v1/keys/${key.id}`)).status).toBe(204);
    const refused = await api("GET", "/api/v1/agents", { token: key.key });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect(refused.json.detail).toContain("revoked");

    const first = (await api("GET", `/api/v1/keys/${key.id}`)).json.revokedAt;
    expect(first).toEqual(expect.any(String));
    expect((await api("DELETE", `/api/v1/keys/${key.id}`)).status).toBe(204);
    expect((await api("GET", `/api/v1/keys/${key.id}`)).json.revokedAt).toBe(first);
  });

  it("the key's object caches its record, and revocation through the API is what invalidates it", async () => {
    const { json: key } = await createKey({ name: "cached", scopes: ["agents:read"] });
    expect((await api("GET", "/api/v1/agents", { token: key.key })).status).toBe(200);
    // Revoked behind the API's back: the object still trusts its cached record...
    await env.DB.prepare("update api_keys set revoked_at = ? where id = ?").bind(Date.now(), key.id).run();
    expect((await api("GET", "/api/v1/agents", { token: key.key })).status).toBe(200);
    // ...until it is told to forget, which is what DELETE /keys/{id} does after writing D1 (with this
    // isolate's lease of the key's tokens; another isolate's lease lasts at most LEASE_TTL_MS).
    const hash = await hashApiKey(key.key);
    apiKeyLeases.forget(hash);
    await env.RATE_LIMITER.getByName(keyObjectName(hash)).forgetKey();
    expect((await api("GET", "/api/v1/agents", { token: key.key })).status).toBe(401);
  });

  it("a D1 read in flight when the key is forgotten does not re-cache the old record", async () => {
    const { json: key } = await createKey({ name: "racing", scopes: ["agents:read"] });
    const hash = await hashApiKey(key.key);
    const stub = env.RATE_LIMITER.getByName(keyObjectName(hash)) as unknown as DurableObjectStub;
    const config = { capacity: 10, refillPerMinute: 60 };
    const second = await runInDurableObject<DurableObject, unknown>(stub, async (instance) => {
      const limiter = instance as unknown as RateLimiter;
      const first = limiter.takeForKey(hash, config); // starts reading D1 (key active)
      limiter.forgetKey(); // a revocation lands meanwhile
      expect(await first).toMatchObject({ ok: true });
      await env.DB.prepare("update api_keys set revoked_at = ? where id = ?").bind(Date.now(), key.id).run();
      return limiter.takeForKey(hash, config);
    });
    expect(second).toEqual({ ok: false, reason: "API key revoked" });
  });

  it("a key can revoke itself when it holds keys:admin", async () => {
    const { json: key } = await createKey({ name: "self", scopes: ["keys:admin"] });
    expect((await api("DELETE", `/api/v1/keys/${key.id}`, { token: key.key })).status).toBe(204);
    expect((await api("GET", "/api/v1/keys", { token: key.key })).status).toBe(401);
  });

  it("revoking or reading an unknown key is 404", async () => {
    expect((await api("DELETE", "/api/v1/keys/key_nope")).json).toMatchObject({ status: 404, type: "/problems/not-found" });
    expect((await api("GET", "/api/v1/keys/key_nope")).status).toBe(404);
  });
});

describe("creating keys: validation and escalation", () => {
  it.each([
    [{ scopes: ["agents:read"] }, "name"],
    [{ name: "", scopes: ["agents:read"] }, "name"],
    [{ name: "x", scopes: [] }, "scopes"],
    [{ name: "x", scopes: ["root"] }, "scopes.0"],
    [{ name: "x", scopes: "agents:read" }, "scopes"],
    [{ name: "x", scopes: ["agents:read"], hash: "abc" }, "(root)"],
  ])("refuses %j naming the field %s, and writes nothing", async (body, field) => {
    const before = await env.DB.prepare("select count(*) as n from api_keys").first<{ n: number }>();
    const res = await createKey(body);
    expect(res.status).toBe(422);
    expect(res.json.errors.map((e: { path: string }) => e.path)).toContain(field);
    const after = await env.DB.prepare("select count(*) as n from api_keys").first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });

  it("refuses malformed JSON with 400", async () => {
    const res = await api("POST", "/api/v1/keys", { raw: "{not json", headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
  });

  it("a key cannot grant scopes its creator lacks", async () => {
    const { json: keyAdmin } = await createKey({ name: "key-admin", scopes: ["keys:admin", "agents:read"] });
    const escalate = await createKey({ name: "escalated", scopes: ["agents:read", "agents:write", "evolution:admin"] }, keyAdmin.key);
    expect(escalate.status).toBe(403);
    expect(escalate.json.lackingScopes).toEqual(["agents:write", "evolution:admin"]);
    expect(escalate.json.detail).toContain("agents:write");

    const ok = await createKey({ name: "narrower", scopes: ["agents:read"] }, keyAdmin.key);
    expect(ok.status).toBe(201);
    expect(ok.json.createdBy).toBe(`key:${keyAdmin.id}`);
  });
});

describe("listing keys", () => {
  it("pages through keys with {items, nextCursor}, never showing a key or hash", async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await createKey({ name: `page-${i}`, scopes: ["agents:read"] })).json.key);

    const seen: any[] = [];
    let cursor: string | null = null;
    do {
      const res = await api("GET", `/api/v1/keys?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      expect(res.json.items.length).toBeLessThanOrEqual(2);
      for (const k of made) expect(res.text).not.toContain(k);
      expect(res.text).not.toContain('"hash"');
      seen.push(...res.json.items);
      cursor = res.json.nextCursor;
    } while (cursor);

    const ids = seen.map((k) => k.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort());
    expect(seen.filter((k) => k.name.startsWith("page-")).map((k) => k.name)).toEqual(["page-0", "page-1", "page-2", "page-3", "page-4"]);
    for (const k of seen) expect(Object.keys(k).sort()).toEqual(["createdAt", "createdBy", "expiresAt", "id", "lastUsedAt", "name", "prefix", "revokedAt", "scopes"]);
  });

  it("refuses a forged cursor and an oversized limit", async () => {
    expect((await api("GET", "/api/v1/keys?cursor=garbage")).status).toBe(400);
    expect((await api("GET", "/api/v1/keys?limit=101")).status).toBe(422);
  });
});

describe("OpenAPI", () => {
  it("documents the key routes with their schemas", async () => {
    const doc = (await api("GET", "/api/v1/openapi.json", { token: null })).json;
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/keys", "/keys/{id}"]));
    expect(Object.keys(doc.paths["/keys"])).toEqual(expect.arrayContaining(["get", "post"]));
    expect(Object.keys(doc.paths["/keys/{id}"])).toEqual(expect.arrayContaining(["get", "delete"]));
    expect(JSON.stringify(doc.components.schemas.CreatedApiKey)).toContain('"key"');
    expect(doc.components.schemas.ApiKey.properties.hash).toBeUndefined();
    expect(doc.paths["/keys"].post.responses["403"]).toBeDefined();
  });
});
