import type { Env } from "../env";
import { agentSpecSchema } from "../registry/spec";
import { findAgent, findVersion, registryDb } from "../registry/store";
import { runSuite, summarize } from "./evaluate";
import { bedrockJudge, sandboxRunner } from "./runner";
import { completePendingEvaluation, findEvaluation } from "./store";
import { suiteForAgent, suiteOf } from "./suite-store";

/** Suites longer than this are evaluated on the queue: POST …/evaluate answers 202 with an id to poll. */
export const SYNC_CASE_LIMIT = 200;

/** Runs a pending evaluation (from the queue); a finished or unknown one is left alone. */
export async function runPendingEvaluation(env: Env, evaluationId: string): Promise<void> {
  const db = registryDb(env.DB);
  const row = await findEvaluation(db, evaluationId);
  if (row?.status !== "running") return;
  try {
    const agent = await findAgent(db, row.agentId, { includeRetired: true });
    const version = await findVersion(db, agent.id, row.version);
    if (!version) throw new Error(`${agent.name} has no version ${row.version}`);
    const suite = suiteOf(await suiteForAgent(db, agent.id, row.suiteId));
    const hasJudges = suite.cases.some((c) => c.checks.some((k) => k.type === "judge"));
    const results = await runSuite(
      agentSpecSchema.parse(JSON.parse(version.spec)),
      suite,
      sandboxRunner(env, { actor: row.createdBy, agentId: agent.id }),
      hasJudges ? { judge: bedrockJudge(env) } : {},
    );
    await completePendingEvaluation(db, evaluationId, { versionId: version.id, summary: summarize(suite, results), cases: results });
  } catch (err) {
    // Another delivery that already completed it is not a failure.
    if ((await findEvaluation(db, evaluationId))?.status !== "running") return;
    await completePendingEvaluation(db, evaluationId, { error: (err as Error).message });
  }
}
