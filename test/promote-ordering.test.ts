import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { decideApproval, promoteToCanary, requestApproval, reviewCanaries } from "../src/deploy/promote";
import type { Env } from "../src/env";
import { executeAgent } from "../src/runtime/execute";
import { failingD1 } from "./faulty-d1";
import { api, codeSpec } from "./helpers";

/** The environment with a D1 whose first write touching `table` fails. */
const failingOn = (table: string) => {
  const faulty = failingD1(env.DB, new RegExp(`^(insert into|update) "${table}"`));
  return { env: { ...(env as unknown as Env), DB: faulty.db }, failed: faulty.failed };
};

async function agentWithTwoVersions(name: string) {
  const created = await api("POST", "/api/v1/agents", { body: codeSpec(name, "1.0.0") });
  expect((await api("PUT", `/api/v1/agents/${name}`, { body: codeSpec(name, "1.0.1") })).status).toBe(201);
  return created.json.id as string;
}

const channels = async (name: string) => (await api("GET", `/api/v1/agents/${name}`)).json.channels;
const history = async (name: string) => (await api("GET", `/api/v1/agents/${name}/deployments`)).json.items as { channel: string; toVersion: string }[];
const promotionsOf = (agentId: string) =>
  env.DB.prepare("select id, version, status from promotions where agent_id = ? order by created_at")
    .bind(agentId)
    .all()
    .then((r) => r.results);

describe("a decision lands with the work it decides, or neither does", () => {
  it("promoteToCanary: a failed promotion write leaves canary unmoved, and a retry completes both once", async () => {
    const agentId = await agentWithTwoVersions("ordered-canary");
    const faulty = failingOn("promotions");
    await expect(promoteToCanary(faulty.env, { agentId, version: "1.0.1", candidateId: "cand_1", mode: "auto", actor: "test", window: 2 })).rejects.toThrow(/injected failure/);
    expect(faulty.failed).toHaveLength(1);
    expect(await channels("ordered-canary")).toEqual({ live: "1.0.0" });
    expect(await promotionsOf(agentId)).toEqual([]);

    const first = await promoteToCanary(faulty.env, { agentId, version: "1.0.1", candidateId: "cand_1", mode: "auto", actor: "test", window: 2 });
    const again = await promoteToCanary(env as unknown as Env, { agentId, version: "1.0.1", candidateId: "cand_1", mode: "auto", actor: "test", window: 2 });
    expect(again.id).toBe(first.id); // at-least-once callers: a repeat finds the open promotion
    expect(await channels("ordered-canary")).toEqual({ live: "1.0.0", canary: "1.0.1" });
    expect(await promotionsOf(agentId)).toEqual([{ id: first.id, version: "1.0.1", status: "canary" }]);
    expect((await history("ordered-canary")).filter((h) => h.channel === "canary")).toHaveLength(1);
  });

  it("reviewCanaries: a failed channel move leaves the canary open, and the next review promotes it", async () => {
    const agentId = await agentWithTwoVersions("ordered-review");
    const promotion = await promoteToCanary(env as unknown as Env, { agentId, version: "1.0.1", mode: "auto", actor: "test", window: 2 });
    for (let n = 0; n < 2; n++) await executeAgent(env, { agent: "ordered-review#canary", input: { n }, actor: "test", source: "api" });

    const faulty = failingOn("channels");
    await expect(reviewCanaries(faulty.env)).rejects.toThrow(/injected failure/);
    expect(faulty.failed).toHaveLength(1);
    expect((await promotionsOf(agentId))[0]).toMatchObject({ id: promotion.id, status: "canary" });
    expect(await channels("ordered-review")).toEqual({ live: "1.0.0", canary: "1.0.1" });

    const retry = await reviewCanaries(faulty.env);
    expect(retry.promoted).toContain(promotion.id);
    expect(await channels("ordered-review")).toEqual({ canary: "1.0.1", live: "1.0.1" });
    expect((await promotionsOf(agentId))[0]).toMatchObject({ status: "live" });
    expect((await reviewCanaries(env as unknown as Env)).promoted).not.toContain(promotion.id); // decided once
    expect((await history("ordered-review")).filter((h) => h.channel === "live" && h.toVersion === "1.0.1")).toHaveLength(1);
  });

  it("decideApproval: a failed canary move leaves the approval pending, and approving again completes both", async () => {
    const agentId = await agentWithTwoVersions("ordered-approval");
    const approvalId = await requestApproval(env as unknown as Env, { agentId, runId: "evr_order", candidateId: "cand_order", version: "1.0.1", reasons: ["widens"] });

    const faulty = failingOn("channels");
    await expect(decideApproval(faulty.env, approvalId, "approve", "person")).rejects.toThrow(/injected failure/);
    expect(faulty.failed).toHaveLength(1);
    expect((await api("GET", `/api/v1/evolution/approvals?status=pending`)).json.items.map((a: { id: string }) => a.id)).toContain(approvalId);
    expect(await channels("ordered-approval")).toEqual({ live: "1.0.0" });

    const approved = await decideApproval(faulty.env, approvalId, "approve", "person");
    expect(approved).toMatchObject({ status: "approved", decidedBy: "person" });
    expect(await channels("ordered-approval")).toEqual({ live: "1.0.0", canary: "1.0.1" });
    expect(await promotionsOf(agentId)).toEqual([expect.objectContaining({ version: "1.0.1", status: "canary" })]);
    // Deciding again changes nothing; the other decision is refused.
    expect((await decideApproval(env as unknown as Env, approvalId, "approve", "person")).status).toBe("approved");
    await expect(decideApproval(env as unknown as Env, approvalId, "reject", "person")).rejects.toThrow(/already approved/);
    expect(await promotionsOf(agentId)).toHaveLength(1);
  });
});
