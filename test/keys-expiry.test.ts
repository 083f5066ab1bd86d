import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { hashApiKey, keyObjectName } from "../src/auth/keys";
import { KEY_USE_RECORD_MS } from "../src/auth/rate-limiter";
import { api } from "./helpers";

const createKey = (body: Record<string, unknown>) => api("POST", "/api/v1/keys", { body: { name: "expiring", scopes: ["agents:read"], ...body } });
const lastUsedInD1 = (id: string) => env.DB.prepare("select last_used_at from api_keys where id = ?").bind(id).first<number | null>("last_used_at");

describe("API key expiry", () => {
  it("a key past its expiresAt is refused with 401 like a revoked one, even from the object's cached record", async () => {
    const expiresAt = new Date(Date.now() + 1_500).toISOString();
    const { status, json: key } = await createKey({ expiresAt });
    expect(status).toBe(201);
    expect(key.expiresAt).toBe(expiresAt);
    expect((await api("GET", `/api/v1/keys/${key.id}`)).json.expiresAt).toBe(expiresAt);
    expect((await api("GET", "/api/v1/agents", { token: key.key })).status).toBe(200);

    const refused = await vi.waitFor(
      async () => {
        const res = await api("GET", "/api/v1/agents", { token: key.key });
        if (res.status !== 401) throw new Error(`still ${res.status}`);
        return res;
      },
      { timeout: 10_000, interval: 100 },
    );
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    expect(refused.headers.get("www-authenticate")).toContain('error_description="API key expired"');
  });

  it("refuses an expiry that is not in the future, or not a timestamp", async () => {
    const past = await createKey({ expiresAt: new Date(Date.now() - 1_000).toISOString() });
    expect(past.status).toBe(422);
    expect(past.json.errors).toEqual([{ path: "expiresAt", message: "must be in the future" }]);
    expect((await createKey({ expiresAt: "tomorrow" })).status).toBe(422);
  });

  it("a key without expiresAt never expires", async () => {
    const { json: key } = await createKey({});
    expect(key.expiresAt).toBeNull();
    expect((await api("GET", "/api/v1/agents", { token: key.key })).status).toBe(200);
  });
});

describe("API key last use", () => {
  it("is recorded after the response, off the request's path, and shown on the key", async () => {
    const { json: key } = await createKey({});
    expect(key.lastUsedAt).toBeNull();
    const before = Date.now();
    expect((await api("GET", "/api/v1/agents", { token: key.key })).status).toBe(200);
    const recorded = await vi.waitFor(
      async () => {
        const at = await lastUsedInD1(key.id);
        if (at === null) throw new Error("not recorded yet");
        return at;
      },
      { timeout: 5_000, interval: 25 },
    );
    expect(recorded).toBeGreaterThanOrEqual(before);
    expect((await api("GET", `/api/v1/keys/${key.id}`)).json.lastUsedAt).toBe(new Date(recorded).toISOString());
  });

  it("is handed out for recording at most once a minute per key", async () => {
    const { json: key } = await createKey({});
    const hash = await hashApiKey(key.key);
    const object = env.RATE_LIMITER.getByName(keyObjectName(hash));
    const config = { capacity: 100, refillPerMinute: 100 };
    const first = await object.takeForKey(hash, config);
    const second = await object.takeForKey(hash, config);
    expect(first).toMatchObject({ ok: true, usedAt: expect.any(Number) });
    expect(second).toMatchObject({ ok: true });
    expect("usedAt" in second && second.usedAt).toBeFalsy();
    expect(KEY_USE_RECORD_MS).toBe(60_000);
  });
});
