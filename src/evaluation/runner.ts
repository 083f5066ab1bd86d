import type { Env } from "../env";
import { converse } from "../models/converse";
import type { AgentSpec } from "../registry/spec";
import { runSpec } from "../runtime/execute";
import type { CaseRunner } from "./evaluate";
import type { JudgeModel } from "./judge";

/** Runs cases in the runtime's sandbox; every run is recorded with source "evaluation". */
export function sandboxRunner(env: Env, opts: { actor: string; agentId?: string }): CaseRunner {
  return (spec: AgentSpec, input: unknown) => runSpec(env, spec, input, { actor: opts.actor, source: "evaluation", ...(opts.agentId ? { agentId: opts.agentId } : {}) });
}

/** Judges through Bedrock Converse, at temperature 0 so a judge is as repeatable as the model allows. */
export function bedrockJudge(env: Env): JudgeModel {
  return async (modelId, system, prompt) => {
    const reply = await converse(env, { modelId, system, messages: [{ role: "user", content: prompt }], maxTokens: 200, temperature: 0 });
    return { text: reply.text, totalTokens: reply.usage.totalTokens };
  };
}
