import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { registryDb, resolveAgentRef } from "../src/registry/store";
import { resolveRunnable, routesToCanary } from "../src/runtime/resolve";
import { api, codeSpec } from "./helpers";

const db = () => registryDb(env.DB);

describe("resolveRunnable agrees with the registry's resolver", () => {
  beforeAll(async () => {
    const a = await api("POST", "/api/v1/agents", { body: codeSpec("ra", "1.0.0") });
    await api("PUT", `/api/v1/agents/${a.json.id}`, { body: codeSpec("ra", "1.1.0") });
    await api("PUT", `/api/v1/agents/${a.json.id}/channels/canary`, { body: { version: "1.1.0" } });
    await api("POST", "/api/v1/agents", { body: codeSpec("retired-one", "1.0.0") });
    await api("DELETE", "/api/v1/agents/retired-one");
  });

  it.each(["ra", "ra@1.0.0", "ra@1.1.0", "ra#canary", "ra#live"])("resolves %s to the same version", async (ref) => {
    const fast = await resolveRunnable(db(), ref);
    const slow = await resolveAgentRef(db(), ref);
    expect(fast.spec.version).toBe(slow.version.version);
    expect(fast.contentHash).toBe(slow.version.contentHash);
    expect(fast.agentId).toBe(slow.agent.id);
  });

  it("uses live by default, not the latest version", async () => {
    expect((await resolveRunnable(db(), "ra")).spec.version).toBe("1.0.0");
  });

  it.each(["nope", "ra@9.9.9", "ra#beta", "retired-one", "Bad Ref"])("raises the registry's error for %s", async (ref) => {
    const fast = await resolveRunnable(db(), ref).catch((e) => e);
    const slow = await resolveAgentRef(db(), ref).catch((e) => e);
    expect(fast.code).toBeDefined();
    expect({ code: fast.code, detail: fast.detail }).toEqual({ code: slow.code, detail: slow.detail });
  });

  it("sends the canary slice of a bare name to the canary channel, and only when the agent has one", async () => {
    expect((await resolveRunnable(db(), "ra", { toCanary: true })).spec.version).toBe("1.1.0");
    expect((await resolveRunnable(db(), "ra#live", { toCanary: true })).spec.version).toBe("1.0.0");
    expect((await resolveRunnable(db(), "ra@1.0.0", { toCanary: true })).spec.version).toBe("1.0.0");
    await api("POST", "/api/v1/agents", { body: codeSpec("no-canary", "1.0.0") });
    await api("PUT", "/api/v1/agents/no-canary", { body: codeSpec("no-canary", "2.0.0") });
    expect((await resolveRunnable(db(), "no-canary", { toCanary: true })).spec.version).toBe("1.0.0");
  });

  it("routes the configured percent of runs to the canary", () => {
    expect(routesToCanary(10, 0.05)).toBe(true);
    expect(routesToCanary(10, 0.1)).toBe(false);
    expect(routesToCanary(0, 0)).toBe(false);
    expect(routesToCanary(100, 0.999)).toBe(true);
    const rolls = Array.from({ length: 1000 }, (_, i) => routesToCanary(25, (i + 0.5) / 1000));
    expect(rolls.filter(Boolean).length).toBe(250);
  });
});
