import { and, eq } from "drizzle-orm";
import type { Env } from "../env";
import { publishEvent } from "../messaging/events";
import { registryDb } from "../registry/store";
import { runCandidates, specOf } from "./candidates";
import { passOver, screenGain } from "./evaluate-candidate";
import { spreadOf } from "./engine";
import { runPool, trainIdsOf } from "./generation";
import { casesLed } from "./pool";
import { EVOLUTION_TOPIC, getRun, loadSuite } from "./run";
import { evolutionCandidates, evolutionGenerations, evolutionRuns, type CandidateRow } from "./schema";
import { rankForEs } from "./search";
import { updateEs } from "./strategy";

const PARAM_OPERATORS = new Set(["es", "merge", "mutation"]);

/** Why an evaluated candidate stays in (or left) the per-case Pareto pool. */
function reasonFor(row: CandidateRow, poolIds: ReadonlySet<string>, led: Map<string, string[]>, championId: string | undefined): { kept: boolean; reason: string } {
  if (row.id === championId) return { kept: true, reason: `champion: best training score ${(row.trainScore ?? 0).toFixed(3)}` };
  if (poolIds.has(row.id)) return { kept: true, reason: `in the per-case Pareto pool: best on ${led.get(row.genomeHash)?.length ?? 0} training cases` };
  return { kept: false, reason: `left the pool: no training case where it is best that another candidate does not match or beat (score ${(row.trainScore ?? 0).toFixed(3)})` };
}

/**
 * Ends a generation: rebuilds the run's per-case Pareto pool, records why each of this
 * generation's candidates was kept or dropped and the best / median / worst, moves the adaptive
 * strategy on from the generation's ES children, and advances the run. Idempotent: once the run's
 * generation counter has moved past `generation`, a replay changes nothing.
 */
export async function completeGeneration(env: Env, runId: string, generation: number): Promise<void> {
  const d = registryDb(env.DB);
  const run = await getRun(d, runId);
  if (run.status !== "running" || run.generation !== generation) return;
  const rows = await runCandidates(d, runId);
  const suite = await loadSuite(d, run);
  const trainIds = trainIdsOf(suite);
  const pool = runPool(rows, trainIds);
  const poolIds = new Set(pool.map((c) => c.id));
  const led = casesLed(pool, trainIds);
  const current = rows.filter((r) => r.generation === generation);
  const evaluated = current.filter((r) => r.status === "evaluated");
  const [previous] =
    generation > 0
      ? await d
          .select()
          .from(evolutionGenerations)
          .where(and(eq(evolutionGenerations.runId, runId), eq(evolutionGenerations.generation, generation - 1)))
      : [];
  const carried = previous ? rows.filter((r) => previous.survivors.includes(r.id)) : [];
  const spread = spreadOf([...new Map([...carried, ...evaluated].map((r) => [r.id, r.trainScore ?? 0])).values()]);

  // The strategy learns from every params child (its samples, merges, mutants): fully evaluated ones by train score, the others by minibatch gain.
  const byId = new Map(rows.map((r) => [r.id, r]));
  const esChildren = current
    .filter((r) => PARAM_OPERATORS.has(r.operator) && (r.status === "evaluated" || r.cases))
    .map((r) => ({
      hash: r.genomeHash,
      params: specOf(r).params,
      ...(r.status === "evaluated" ? { trainScore: r.trainScore ?? 0 } : { screenScore: screenGain(r, r.parents[0] ? byId.get(r.parents[0]) : undefined) }),
    }));
  const searchState = run.searchState && esChildren.length >= 2 ? { es: updateEs(run.searchState.es, run.policy.genes, rankForEs(esChildren)) } : run.searchState;

  const now = Date.now();
  const updates = evaluated.map((r) =>
    d
      .update(evolutionCandidates)
      .set(reasonFor(r, poolIds, led, pool[0]?.id))
      .where(eq(evolutionCandidates.id, r.id)),
  );
  const advance = d
    .update(evolutionRuns)
    .set({ generation: generation + 1, searchState, updatedAt: now })
    .where(and(eq(evolutionRuns.id, runId), eq(evolutionRuns.generation, generation), eq(evolutionRuns.status, "running")))
    .returning({ id: evolutionRuns.id });
  const [, ...results] = await d.batch([
    d
      .insert(evolutionGenerations)
      .values({ runId, generation, ...spread, evaluated: evaluated.length, survivors: pool.map((c) => c.id), completedAt: now })
      .onConflictDoNothing(),
    ...updates,
    advance,
  ]);
  const advanced = (results.at(-1) as { id: string }[] | undefined)?.length ?? 0;
  if (advanced)
    await publishEvent(env, EVOLUTION_TOPIC, "evolution.generation.completed", {
      runId,
      agentId: run.agentId,
      generation,
      ...spread,
      evaluated: evaluated.length,
      survivors: pool.length,
    });
}

/**
 * After screening: the numeric search planned more children than it may evaluate, so only the
 * `slots` that gained most over their parents on their minibatches (then slot order) go on; the
 * rest are dropped with the reason. Model children that passed always go on. Returns the ids to
 * evaluate fully.
 */
export async function chooseForEvaluation(env: Env, runId: string, generation: number, slots: number): Promise<string[]> {
  const d = registryDb(env.DB);
  const all = await runCandidates(d, runId);
  const rows = all.filter((r) => r.generation === generation && r.status === "pending");
  const byId = new Map(all.map((r) => [r.id, r]));
  const params = rows
    .filter((r) => PARAM_OPERATORS.has(r.operator))
    .map((r) => ({ r, gain: screenGain(r, r.parents[0] ? byId.get(r.parents[0]) : undefined) }))
    .sort((a, b) => b.gain - a.gain || a.r.slotIndex - b.r.slotIndex);
  const chosen = params.slice(0, slots);
  const cutoff = chosen.at(-1)?.gain ?? 0;
  const caseCount = (await loadSuite(d, await getRun(d, runId))).cases.length;
  await passOver(
    env,
    runId,
    params.slice(slots).map(({ r }) => r),
    caseCount,
    `${slots} siblings gained at least ${cutoff.toFixed(3)} on their minibatches`,
  );
  const keep = new Set([...chosen.map((c) => c.r.id), ...rows.filter((r) => !PARAM_OPERATORS.has(r.operator)).map((r) => r.id)]);
  return rows.filter((r) => keep.has(r.id)).map((r) => r.id);
}
