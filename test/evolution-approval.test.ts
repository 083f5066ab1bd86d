import { describe, expect, it } from "vitest";
import { api } from "./helpers";
import { agentCode, finishedRun, registerExample, specJson } from "./evolution-helpers";

const goodParams = { ...specJson.params, w_great: 2, w_love: 2, w_excellent: 2, w_wonderful: 2, w_amazing: 2, w_good: 1, w_best: 2, w_happy: 1, w_perfect: 2, w_recommend: 2 };

describe("a run whose best child widens permissions", () => {
  it("publishes it but holds it for a person; approving sends it to canary", async () => {
    await registerExample("widening", { population: 4, generationsPerRun: 1 });
    // A person put a better version with a network grant on canary; children bred from it inherit the grant.
    const wide = await api("PUT", "/api/v1/agents/widening", {
      body: { ...specJson, name: "widening", version: "1.0.1", code: agentCode, params: goodParams, permissions: { network: ["api.example.com"] } },
    });
    expect(wide.status).toBe(201);
    await api("PUT", "/api/v1/agents/widening/channels/canary", { body: { version: "1.0.1" } });
    // Scored versions compete as seeds with their scores, so the good canary is the likelier parent.
    await api("POST", "/api/v1/agents/widening/versions/1.0.1/evaluate");

    const started = await api("POST", "/api/v1/evolution/runs", { body: { agent: "widening" } });
    const run = await finishedRun(started.json.runId);
    expect(run.outcome.decision).toBe("approval");
    const champion = run.candidates.find((c: any) => c.id === run.outcome.champion);
    expect(champion.gate.decision).toBe("approval");
    expect(champion.gate.checks.filter((c: any) => !c.ok).map((c: any) => c.rule)).toEqual(["permissions"]);
    expect(champion.version).toBe("1.0.2");
    expect((await api("GET", "/api/v1/agents/widening")).json.channels).toEqual({ live: "1.0.0", canary: "1.0.1" });

    const pending = (await api("GET", "/api/v1/evolution/approvals?status=pending&agent=widening")).json.items;
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ version: "1.0.2", runId: run.id, candidateId: champion.id, reasons: ["widens permissions: network host api.example.com is new"] });

    const approved = await api("POST", `/api/v1/evolution/approvals/${pending[0].id}/approve`);
    expect(approved.json.status).toBe("approved");
    expect((await api("GET", "/api/v1/agents/widening")).json.channels.canary).toBe("1.0.2");
    const stats = (await api("GET", "/api/v1/evolution/stats?agent=widening")).json;
    expect(stats.promotions).toMatchObject({ total: 1, automatic: 0, approved: 1 });
    expect(stats.autonomyRatio).toBe(0);
  });
});
