import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { promoteToCanary, requestApproval } from "../src/deploy/promote";
import { executeAgent } from "../src/runtime/execute";
import { api, codeSpec } from "./helpers";

const WINDOW = 6;
const steady = "export default { async run(input) { return { n: input.n }; } };";
// Passes a suite of even numbers, fails live on odd ones: the kind of child only live traffic exposes.
const brittle = "export default { async run(input) { if (input.n % 2) throw new Error('odd'); return { n: input.n }; } };";

async function serve(ref: string, count: number) {
  const results = [];
  for (let n = 0; n < count; n++) results.push(await executeAgent(env, { agent: ref, input: { n }, actor: "test", source: "api" }));
  return results;
}

const review = async () => (await api("POST", "/api/v1/evolution/canaries/review")).json;
const channels = async () => (await api("GET", "/api/v1/agents/canaried")).json.channels;

describe("canary → live, rollback, approvals", () => {
  let agentId = "";

  it("rolls a canary back automatically when its live success rate is worse than live's", async () => {
    const created = await api("POST", "/api/v1/agents", { body: codeSpec("canaried", "1.0.0", { code: steady }) });
    agentId = created.json.id;
    await api("PUT", "/api/v1/agents/canaried", { body: codeSpec("canaried", "1.0.1", { code: brittle }) });
    const promotion = await promoteToCanary(env, { agentId, version: "1.0.1", mode: "auto", actor: "evolution:test", window: WINDOW });
    expect(await channels()).toEqual({ live: "1.0.0", canary: "1.0.1" });

    await serve("canaried", WINDOW); // live 1.0.0: all succeed
    await serve("canaried#canary", WINDOW - 1);
    expect((await review()).waiting).toEqual([promotion.id]); // not enough canary runs yet

    const last = await serve("canaried#canary", 1);
    expect(last[0]!.version).toBe("1.0.1");
    const decided = await review();
    expect(decided.rolledBack).toEqual([promotion.id]);
    expect(await channels()).toEqual({ live: "1.0.0", canary: "1.0.0" });

    const history = (await api("GET", "/api/v1/agents/canaried/deployments")).json.items;
    expect(history[0]).toMatchObject({ channel: "canary", fromVersion: "1.0.1", toVersion: "1.0.0", actor: "evolution" });
    expect(history[0].reason).toMatch(/^rollback: canary 66\.7% \(4\/6\) vs live 100\.0% \(6\/6\): worse$/);
    expect((await review()).rolledBack).toEqual([]); // decided once
    expect((await api("GET", "/api/v1/evolution/stats?agent=canaried")).json.rollbacks).toBe(1);
  });

  it("promotes a canary to live when it is not worse", async () => {
    await api("PUT", "/api/v1/agents/canaried", { body: codeSpec("canaried", "1.0.2", { code: steady.replace("n: input.n", "n: input.n, v: 2") }) });
    const promotion = await promoteToCanary(env, { agentId, version: "1.0.2", mode: "auto", actor: "evolution:test", window: WINDOW });
    await serve("canaried#canary", WINDOW);
    expect((await review()).promoted).toEqual([promotion.id]);
    expect(await channels()).toEqual({ live: "1.0.2", canary: "1.0.2" });
    const history = (await api("GET", "/api/v1/agents/canaried/deployments")).json.items;
    expect(history[0]).toMatchObject({ channel: "live", fromVersion: "1.0.0", toVersion: "1.0.2" });
  });

  it("holds risky children for a person: approve sends to canary, reject does not, each decided once", async () => {
    await api("PUT", "/api/v1/agents/canaried", { body: codeSpec("canaried", "1.0.3", { code: steady, permissions: { network: ["api.example.com"] } }) });
    const approvalId = await requestApproval(env, {
      agentId,
      runId: "evr_test",
      candidateId: "cand_a",
      version: "1.0.3",
      reasons: ["widens permissions: network host api.example.com is new"],
    });
    const pending = await api("GET", "/api/v1/evolution/approvals?status=pending");
    expect(pending.json.items.map((a: any) => a.id)).toEqual([approvalId]);
    expect(pending.json.items[0].reasons[0]).toMatch(/api\.example\.com/);

    const approved = await api("POST", `/api/v1/evolution/approvals/${approvalId}/approve`, { body: { note: "host is ours" } });
    expect(approved.status).toBe(200);
    expect(approved.json).toMatchObject({ status: "approved", decidedBy: "admin", note: "host is ours" });
    expect((await channels()).canary).toBe("1.0.3");
    expect((await api("POST", `/api/v1/evolution/approvals/${approvalId}/approve`)).status).toBe(200); // same decision: no-op
    const flip = await api("POST", `/api/v1/evolution/approvals/${approvalId}/reject`);
    expect(flip.status).toBe(409);

    const second = await requestApproval(env, { agentId, runId: "evr_test", candidateId: "cand_b", version: "1.0.1", reasons: ["widens"] });
    expect((await api("POST", `/api/v1/evolution/approvals/${second}/reject`)).json.status).toBe("rejected");
    expect((await channels()).canary).toBe("1.0.3");
    expect((await api("POST", "/api/v1/evolution/approvals/apr_missing/approve")).status).toBe(404);

    const stats = (await api("GET", "/api/v1/evolution/stats?agent=canaried")).json;
    // 1.0.1 and 1.0.2 went automatically, 1.0.3 by approval: two of three.
    expect(stats.promotions).toMatchObject({ total: 3, automatic: 2, approved: 1 });
    expect(stats.autonomyRatio).toBeCloseTo(2 / 3, 10);
    expect(stats.approvals).toEqual({ approved: 1, rejected: 1 });
  });

  it("needs evolution:admin to decide", async () => {
    const key = await api("POST", "/api/v1/keys", { body: { name: "reader", scopes: ["agents:read"] } });
    const r = await api("POST", "/api/v1/evolution/approvals/apr_x/approve", { token: key.json.key });
    expect(r.status).toBe(403);
    expect((await api("GET", "/api/v1/evolution/approvals", { token: key.json.key })).status).toBe(200);
  });
});
