import agentCode from "../examples/sentiment/agent.js?raw";
import policyJson from "../examples/sentiment/policy.json";
import specJson from "../examples/sentiment/spec.json";
import suiteJson from "../examples/sentiment/suite.json";
import { expect } from "vitest";
import { api } from "./helpers";
import type { ReflectiveCase } from "../src/evolution/reflect";
import { agentSpecSchema, type AgentSpec } from "../src/registry/spec";

export { agentCode, policyJson, specJson, suiteJson };

/** Polls until `check` returns something truthy (the local queue delivers on its own). */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 60_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Registers the example classifier under `name` with its suite and an evolution policy. */
export async function registerExample(name: string, policy: Record<string, unknown> = {}, cases = suiteJson.cases) {
  const created = await api("POST", "/api/v1/agents", { body: { ...specJson, name, code: agentCode } });
  if (created.status !== 201) throw new Error(`register ${name}: ${created.status} ${created.text}`);
  const suite = await api("POST", "/api/v1/suites", { body: { name: `${name}-suite`, agent: name, description: suiteJson.description, cases } });
  if (suite.status !== 201) throw new Error(`suite: ${suite.status} ${suite.text}`);
  const set = await api("PUT", `/api/v1/agents/${name}/evolution`, { body: { ...policyJson, suite: `${name}-suite`, ...policy } });
  if (set.status !== 200) throw new Error(`policy: ${set.status} ${set.text}`);
  return { agentId: created.json.id as string, suiteId: suite.json.id as string };
}

export async function finishedRun(runId: string, timeoutMs = 90_000) {
  return eventually(
    async () => {
      const r = await api("GET", `/api/v1/evolution/runs/${runId}`);
      return (r.json.status === "completed" || r.json.status === "failed") && r.json;
    },
    timeoutMs,
    `run ${runId}`,
  );
}

/** The live version's score on a suite, freshly evaluated. */
export async function liveScore(agent: string, suite: string): Promise<number> {
  const live = (await api("GET", `/api/v1/agents/${agent}`)).json.channels.live;
  return (await api("POST", `/api/v1/agents/${agent}/versions/${live}/evaluate`, { body: { suite } })).json.score as number;
}

/**
 * Up to `runs` evolution runs, stopping once live reaches `target`; after each promotion the canary
 * serves live traffic (`inputs`), and the canary rule must take it live. Returns the finished runs.
 */
export async function evolveWithLiveTraffic(agent: string, suite: string, inputs: unknown[], opts: { runs: number; target: number; timeoutMs: number }) {
  const runs: any[] = [];
  for (let n = 0; n < opts.runs && (await liveScore(agent, suite)) < opts.target; n++) {
    const started = await api("POST", "/api/v1/evolution/runs", { body: { agent } });
    const run = await finishedRun(started.json.runId, opts.timeoutMs);
    expect(run.status).toBe("completed");
    runs.push(run);
    if (run.outcome.decision !== "pass") continue;
    const served: string[] = [];
    for (const input of inputs) {
      const res = await api("POST", "/api/v1/execute", { body: { agent: `${agent}#canary`, input } });
      expect(res.status).toBe(200);
      served.push(res.json.runId);
    }
    // Run records are written just behind each answer; the canary rule counts recorded runs.
    for (const id of served) expect((await api("GET", `/api/v1/runs/${id}`)).status).toBe(200);
    expect((await api("POST", "/api/v1/evolution/canaries/review")).json.promoted.length).toBe(1);
  }
  return runs;
}

/** The agents and the failing case shared by evolution-rewrite-request and evolution-rewrite-propose. */
type LlmSpec = Extract<AgentSpec, { kind: "llm" }>;
export const llm = (over: Record<string, unknown> = {}): LlmSpec =>
  agentSpecSchema.parse({
    name: "sentiment",
    version: "1.0.0",
    kind: "llm",
    description: "Labels a review positive or negative",
    model: "rule-task",
    prompt: "Label the sentiment of the text as positive or negative.\n- otherwise answer positive\nText: {{input.text}}",
    params: { temperature: 0 },
    ...over,
  }) as LlmSpec;
export const code = agentSpecSchema.parse({
  name: "coder",
  version: "1.0.0",
  kind: "code",
  code: "export default { async run(input) { return { label: 'positive' }; } };",
  params: { threshold: 0.5 },
});

export const failing: ReflectiveCase = {
  caseId: "refund",
  input: { text: "I want a refund" },
  output: '"positive"',
  score: 0,
  feedback: ['expected "negative", got "positive"', "latency 12 ms within 500"],
};
