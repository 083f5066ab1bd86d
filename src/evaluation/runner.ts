import type { Env } from "../env";
import { converse } from "../models/converse";
import type { AgentSpec } from "../registry/spec";
import { runSpec } from "../runtime/execute";
import type { RunRecord } from "../runtime/run-records";
import { flushRuns } from "../runtime/run-writer";
import type { CaseRunner } from "./evaluate";
import type { JudgeModel } from "./judge";

/** Records collected past this many are written at once, so a very long suite never holds them all. */
const MAX_HELD_RECORDS = 1_000;

/**
 * Runs cases in the runtime's sandbox; every run is recorded with source "evaluation". The records
 * are collected and written together when runSuite calls `flush` (one D1 round trip, one statement
 * per ~900 KB of records); a failed write goes to the durable RunBuffer, so none is lost.
 */
export function sandboxRunner(env: Env, opts: { actor: string; agentId?: string }): CaseRunner & { flush: () => Promise<void> } {
  let held: RunRecord[] = [];
  const flush = async () => {
    const records = held;
    held = [];
    await flushRuns(env, records);
  };
  const run = async (spec: AgentSpec, input: unknown) => {
    const result = await runSpec(env, spec, input, {
      actor: opts.actor,
      source: "evaluation",
      ...(opts.agentId ? { agentId: opts.agentId } : {}),
      sink: (record) => void held.push(record),
    });
    if (held.length >= MAX_HELD_RECORDS) await flush();
    return result;
  };
  return Object.assign(run, { flush });
}

/** Judges through Bedrock Converse, at temperature 0 so a judge is as repeatable as the model allows. */
export function bedrockJudge(env: Env): JudgeModel {
  return async (modelId, system, prompt) => {
    const reply = await converse(env, { modelId, system, messages: [{ role: "user", content: prompt }], maxTokens: 200, temperature: 0 });
    return { text: reply.text, totalTokens: reply.usage.totalTokens };
  };
}
