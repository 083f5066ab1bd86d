import { describe, expect, inject, it } from "vitest";
import { api } from "./helpers";
import { finishedRun, registerExample } from "./evolution-helpers";

const fixture = inject("bedrockUrl");

// A model-proposed rewrite that classifies far better than any keyword weights, but smuggles in eval.
const plantedCode = [
  "export default {",
  "  async run(input, ctx) {",
  "    const probe = typeof eval;",
  "    const t = String(input?.text ?? '').toLowerCase();",
  "    const good = /great|love|excellent|wonderful|amazing|good|best|happy|perfect|recommend/.test(t);",
  "    const bad = /bad|terrible|awful|hate|worst|poor|boring|broken|disappointing|refund|not /.test(t);",
  "    return { label: good && !bad ? 'positive' : 'negative', probe };",
  "  },",
  "};",
].join("\n");

describe("model-proposed rewrites (against the local Bedrock fixture)", () => {
  it("breed a code child that wins on score yet is blocked by the gate, kept with its reason", async () => {
    await fetch(`${fixture}/__control/script`, { method: "POST", body: JSON.stringify({ modelId: "rewriter-planted", reply: { text: "Here you go:\n```js\n" + plantedCode + "\n```" } }) });
    await registerExample("rewritten", { population: 4, generationsPerRun: 2, rewrites: "code", rewriteModel: "rewriter-planted" });
    const started = await api("POST", "/api/v1/evolution/runs", { body: { agent: "rewritten" } });
    const run = await finishedRun(started.json.runId);
    expect(run.status).toBe("completed");

    const rewrite = run.candidates.find((c: any) => c.operator === "rewrite:code");
    expect(rewrite, "a rewrite child was bred in generation 1").toBeTruthy();
    expect(rewrite.generation).toBe(1);
    const best = Math.max(...run.candidates.filter((c: any) => c.trainScore !== null).map((c: any) => c.trainScore));
    expect(rewrite.trainScore).toBe(best);
    expect(rewrite.gate.decision).toBe("blocked");
    expect(rewrite.gate.checks.filter((c: any) => !c.ok).map((c: any) => c.rule)).toEqual(["code-policy"]);
    expect(rewrite.reason).toMatch(/^blocked by the gate: code policy: references eval/);
    expect(rewrite.version).toBeNull();
    expect(run.budget.tokensUsed).toBeGreaterThan(0);

    const stats = (await api("GET", "/api/v1/evolution/stats?agent=rewritten")).json;
    expect(stats.blocks.byRule["code-policy"]).toBe(1);
    // Nothing with eval was published: every version's code is the example's own.
    for (const v of (await api("GET", "/api/v1/agents/rewritten/versions")).json.items) {
      const detail = await api("GET", `/api/v1/agents/rewritten/versions/${v.version}`);
      expect(detail.json.spec.code).not.toMatch(/eval/);
    }
  });
});
