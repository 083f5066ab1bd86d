import { WorkflowEntrypoint, type WorkflowEvent, type WorkflowStep, type WorkflowStepConfig } from "cloudflare:workers";
import { inArray } from "drizzle-orm";
import type { Env } from "../env";
import { publishEvent } from "../messaging/events";
import { continueTrace } from "../observability/context";
import { registryDb } from "../registry/store";
import { codeHash } from "../runtime/code-agent";
import { specOf } from "./candidates";
import { evaluateCandidate, screenCandidate } from "./evaluate-candidate";
import { finishRun } from "./finish";
import { beginRun, generationLayout, planChildrenOf, planRewrite, planSeeds } from "./generation";
import { EVOLUTION_TOPIC, getRun, markFailed, type EvolutionRunParams } from "./run";
import { evolutionCandidates } from "./schema";
import { chooseForEvaluation, completeGeneration } from "./select";
import { evaluationWaves } from "./waves";

/** Bookkeeping steps: quick D1 work, retried fast. */
const BOOKKEEPING: WorkflowStepConfig = { retries: { limit: 5, delay: "1 second", backoff: "exponential" }, timeout: "2 minutes" };
/** A candidate's evaluation: a suite's worth of sandbox or model runs. */
const EVALUATION: WorkflowStepConfig = { retries: { limit: 3, delay: "2 seconds", backoff: "exponential" }, timeout: "15 minutes" };
/** One model call for a rewrite or merge (its own errors already end as a dropped child). */
const REWRITE: WorkflowStepConfig = { retries: { limit: 2, delay: "2 seconds", backoff: "exponential" }, timeout: "5 minutes" };

/**
 * One checkpointed step. Its result comes back over RPC from the Workflow engine; an RPC result
 * holds what the call passed (here the step's callback) until disposed, and a run makes hundreds of
 * steps in one invocation, so each result is copied out and disposed at once (undisposed, local
 * workerd warns and, at the end of a long run, crashes).
 */
async function checkpoint<T extends Rpc.Serializable<T>>(step: WorkflowStep, name: string, config: WorkflowStepConfig, work: () => Promise<T>): Promise<T> {
  const result = await step.do(name, config, work);
  const dispose = (result as Partial<Disposable> | null | undefined)?.[Symbol.dispose];
  if (typeof dispose !== "function") return result;
  const copy = JSON.parse(JSON.stringify(result)) as T;
  dispose.call(result);
  return copy;
}

const positive = (value: string | undefined, fallback: number) => {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
};

/**
 * One evolution run as a Cloudflare Workflow: every generation's planning, each candidate's
 * evaluation (in parallel), selection, and the gate with promotion are checkpointed steps, so the
 * platform retries a failed step, resumes after a restart, and never re-runs a step that
 * succeeded. The steps are idempotent against D1 as well, for the one attempt that dies between
 * its writes and its checkpoint. Nothing outside a step touches the world.
 */
export class EvolutionRun extends WorkflowEntrypoint<Env, EvolutionRunParams> {
  override async run(event: Readonly<WorkflowEvent<EvolutionRunParams>>, step: WorkflowStep): Promise<{ runId: string; status: string }> {
    const { runId, traceId } = event.payload;
    const env = this.env;
    // Steps that run agents or models continue the run's trace (a step's callback does not inherit it).
    const traced =
      <T>(work: () => Promise<T>) =>
      () =>
        continueTrace(traceId, work);
    try {
      const plan = await checkpoint(step, "begin", BOOKKEEPING, () => beginRun(env, runId));
      for (let g = 0; g < plan.generations; g++) {
        if (g === 0)
          await this.fanOut(step, "g0:eval", await checkpoint(step, "g0:seeds", BOOKKEEPING, () => planSeeds(env, runId)), (id) =>
            continueTrace(traceId, () => evaluateCandidate(env, runId, id)),
          );
        const layout = await checkpoint(step, `g${g}:layout`, BOOKKEEPING, async () =>
          generationLayout(registryDb(env.DB), await getRun(registryDb(env.DB), runId), g, plan.rewriteSlots),
        );
        await Promise.all(
          Array.from({ length: layout.rewrites }, (_, i) => layout.firstRewrite + i).map((slot) =>
            checkpoint(
              step,
              `g${g}:rewrite:${slot}`,
              REWRITE,
              traced(() => planRewrite(env, runId, g, slot)),
            ),
          ),
        );
        // With screening, the numeric search plans twice its slots; the best screened half is evaluated.
        const planned = plan.screening ? 2 * layout.params : layout.params;
        const children = await checkpoint(step, `g${g}:plan`, BOOKKEEPING, () => planChildrenOf(env, runId, g, layout.firstParam, planned));
        await this.fanOut(step, `g${g}:screen`, children, (id) => continueTrace(traceId, () => screenCandidate(env, runId, id)));
        const chosen = await checkpoint(step, `g${g}:choose`, BOOKKEEPING, () => chooseForEvaluation(env, runId, g, layout.params));
        await this.fanOut(step, `g${g}:eval`, chosen, (id) => continueTrace(traceId, () => evaluateCandidate(env, runId, id)));
        await checkpoint(step, `g${g}:select`, BOOKKEEPING, () => completeGeneration(env, runId, g));
      }
      await checkpoint(
        step,
        "gate",
        EVALUATION,
        traced(() => finishRun(env, runId)),
      );
      return { runId, status: "completed" };
    } catch (err) {
      // A step out of retries: the run is recorded failed (the error is the platform's last attempt).
      const message = String((err as Error)?.message ?? err);
      await checkpoint(step, "fail", BOOKKEEPING, async () => {
        const d = registryDb(env.DB);
        if (await markFailed(d, runId, message)) {
          const run = await getRun(d, runId);
          await publishEvent(env, EVOLUTION_TOPIC, "evolution.run.failed", { runId, agentId: run.agentId, error: message });
        }
      });
      return { runId, status: "failed" };
    }
  }

  /**
   * Runs one step per candidate (screening or evaluation), in parallel waves that keep the distinct
   * Dynamic Workers in flight within Cloudflare's per-request cap (params-only siblings share one).
   */
  private async fanOut<T extends Rpc.Serializable<T>>(step: WorkflowStep, name: string, ids: readonly string[], work: (id: string) => Promise<T>): Promise<void> {
    if (!ids.length) return;
    const env = this.env;
    const sandboxes = await checkpoint(step, `${name}:sandboxes`, BOOKKEEPING, () => sandboxKeys(env, ids));
    const waves = evaluationWaves(sandboxes, { distinct: positive(env.DYNAMIC_WORKERS_PER_REQUEST, 4), parallel: positive(env.EVOLUTION_PARALLEL_CANDIDATES, 8) });
    for (const wave of waves) await Promise.all(wave.map((id) => checkpoint(step, `${name}:${id}`, EVALUATION, () => work(id))));
  }
}

/** Each candidate's sandbox key: the hash its Dynamic Worker is keyed by (code agents), or null (no sandbox). */
async function sandboxKeys(env: Env, ids: readonly string[]): Promise<{ id: string; sandbox: string | null }[]> {
  const rows = await registryDb(env.DB)
    .select({ id: evolutionCandidates.id, spec: evolutionCandidates.spec })
    .from(evolutionCandidates)
    .where(inArray(evolutionCandidates.id, [...ids]));
  const byId = new Map(rows.map((r) => [r.id, specOf(r)]));
  return Promise.all(
    ids.map(async (id) => {
      const spec = byId.get(id);
      return { id, sandbox: spec?.kind === "code" ? await codeHash(spec) : null };
    }),
  );
}
