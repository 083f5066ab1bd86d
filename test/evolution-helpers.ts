import agentCode from "../examples/sentiment/agent.js?raw";
import policyJson from "../examples/sentiment/policy.json";
import specJson from "../examples/sentiment/spec.json";
import suiteJson from "../examples/sentiment/suite.json";
import { api } from "./helpers";

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
