import { fnv1a } from "../evaluation/split";
import { SIGNIFICANCE, signTest } from "../evaluation/score";
import { canonicalJson } from "../registry/canonical";
import type { Parent } from "./breed";
import { firstGeneration, nextGeneration, select } from "./engine";
import type { Params } from "./operators";
import { eliteCountOf, evolutionPolicySchema, isRangeGene, type EvolutionPolicy, type Genes } from "./policy";
import { updatePool, champion, type PoolCandidate } from "./pool";
import { seededRng, type Rng } from "./prng";
import { DEFAULT_SCREEN, passesScreen, screeningCases, type ScreenOptions } from "./screen";
import { planChildren, rankForEs, type RankedChild, type SearchMix } from "./search";
import { resumeEs, updateEs, type EsOptions, type EsState } from "./strategy";

/**
 * An in-memory evolution, for comparing search strategies without bindings: the same pure steps
 * the Workflow calls, an `evaluate` in place of the sandbox, and the safety gate's held-out rule
 * between runs. Case runs are counted as the real system spends them (a genome's result on a
 * case is reused, never re-run).
 */

export type SearchStrategy = "random" | "classic" | "adaptive";

export interface SimulationInput {
  /** Scores params on every case (train and held-out), in [0, 1] per case. */
  evaluate: (params: Params) => Promise<Record<string, number>>;
  trainIds: readonly string[];
  heldOutIds: readonly string[];
  /** Cases no promoted child may score lower on than live. */
  guardIds?: readonly string[];
  genes: Genes;
  startParams: Params;
  population: number;
  generations: number;
  runs: number;
  seed: number | string;
  strategy: SearchStrategy;
  minImprovement?: number;
  /** The training score whose first reach is reported (default 0.85). */
  target?: number;
  /** Classic operator settings (mutationRate, crossoverRate, tournamentSize, eliteCount). */
  classic?: Partial<EvolutionPolicy>;
  /** Adaptive settings: screening (false to evaluate every child fully), operator mix, ES options. */
  screen?: ScreenOptions | false;
  mix?: Partial<SearchMix>;
  es?: EsOptions;
  /** Weight of the worse half in the ES mean update (see updateEs). */
  negative?: number;
  meanRate?: number;
  /** Children planned and screened per population slot; the best passers fill the slots. */
  oversample?: number;
}

export interface RunReport {
  /** Best training score found so far, after each generation of this run. */
  bestTrainByGeneration: number[];
  champion: { train: number; heldOut: number };
  liveBefore: { heldOut: number; all: number };
  promoted: boolean;
  signTest: { wins: number; losses: number; pValue: number };
  liveAfter: { heldOut: number; all: number };
}

export interface SimulationReport {
  strategy: SearchStrategy;
  /** Case runs spent, screening and the gate included. */
  caseRuns: number;
  /** Candidates fully evaluated on the training cases. */
  candidates: number;
  screenedOut: number;
  /** Case runs spent when a candidate first scored ≥ target on the training cases (null: never). */
  caseRunsToTarget: number | null;
  candidatesToTarget: number | null;
  runs: RunReport[];
  finalLive: { heldOut: number; all: number };
}

const hashOf = (params: Params) => fnv1a(canonicalJson(params)).toString(16).padStart(8, "0");
const meanOf = (scores: Record<string, number>, ids: readonly string[]) => (ids.length ? ids.reduce((s, id) => s + (scores[id] ?? 0), 0) / ids.length : 0);

/** Memoised evaluation that counts each (genome, case) run once, as the real result store does. */
function ledger(input: SimulationInput) {
  const results = new Map<string, Promise<Record<string, number>>>();
  const ran = new Map<string, Set<string>>();
  const state = { caseRuns: 0, candidates: 0, screenedOut: 0, caseRunsToTarget: null as number | null, candidatesToTarget: null as number | null };
  const target = input.target ?? 0.85;
  const run = async (params: Params, caseIds: readonly string[]): Promise<Record<string, number>> => {
    const key = canonicalJson(params);
    if (!results.has(key)) results.set(key, input.evaluate(params));
    const done = ran.get(key) ?? new Set<string>();
    ran.set(key, done);
    for (const id of caseIds) {
      if (done.has(id)) continue;
      done.add(id);
      state.caseRuns++;
    }
    return results.get(key)!;
  };
  /** A full training evaluation: the candidate as the pool and selection see it. */
  const train = async (params: Params, id: string): Promise<PoolCandidate> => {
    const all = await run(params, input.trainIds);
    state.candidates++;
    const caseScores = Object.fromEntries(input.trainIds.map((c) => [c, all[c] ?? 0]));
    const trainScore = meanOf(caseScores, input.trainIds);
    if (trainScore >= target - 1e-9 && state.caseRunsToTarget === null) {
      state.caseRunsToTarget = state.caseRuns;
      state.candidatesToTarget = state.candidates;
    }
    return { id, hash: hashOf(params), params, sizeBytes: canonicalJson(params).length, cost: 0, trainScore, caseScores };
  };
  return { run, train, state };
}

type Ledger = ReturnType<typeof ledger>;

/** The gate's improvement and guard rules: held-out mean up by minImprovement, sign test p ≤ 0.05, no guard worse. */
async function gate(input: SimulationInput, book: Ledger, child: Params, live: Params) {
  const cases = [...input.heldOutIds, ...(input.guardIds ?? [])];
  const [c, l] = await Promise.all([book.run(child, cases), book.run(live, cases)]);
  const test = signTest(input.heldOutIds.map((id) => ({ challenger: c[id] ?? 0, baseline: l[id] ?? 0 })));
  const improvement = meanOf(c, input.heldOutIds) - meanOf(l, input.heldOutIds);
  const guardsHold = (input.guardIds ?? []).every((id) => (c[id] ?? 0) >= (l[id] ?? 0) - 1e-9);
  const pass = improvement >= (input.minImprovement ?? 0.02) - 1e-9 && test.pValue <= SIGNIFICANCE && guardsHold;
  return { pass, childHeldOut: meanOf(c, input.heldOutIds), signTest: { wins: test.wins, losses: test.losses, pValue: test.pValue } };
}

/** Children planned and screened per population slot by default: the best passers fill the slots. */
export const DEFAULT_OVERSAMPLE = 2;

/** A run's search: returns the best training score after each generation and the run's champion. */
type RunSearch = (live: Params, run: number, book: Ledger) => Promise<{ best: number[]; champion: PoolCandidate }>;

function uniformParams(genes: Genes, base: Params, rng: Rng): Params {
  const params: Params = { ...base };
  for (const key of Object.keys(genes).sort()) {
    const g = genes[key]!;
    if (!isRangeGene(g)) params[key] = rng.pick(g.choices);
    else {
      const raw = g.min + rng.next() * (g.max - g.min);
      params[key] = g.step ? Number((g.min + Math.round((raw - g.min) / g.step) * g.step).toFixed(10)) : raw;
    }
  }
  return params;
}

const ranked = (xs: readonly PoolCandidate[]) => [...xs].sort((a, b) => b.trainScore - a.trainScore || (a.hash < b.hash ? -1 : 1));

function randomSearch(input: SimulationInput): RunSearch {
  return async (live, run, book) => {
    let best = await book.train(live, "live");
    const curve: number[] = [];
    for (let g = 0; g < input.generations; g++) {
      const rng = seededRng(`${input.seed}:${run}:${g}`);
      const children = await Promise.all(
        Array.from({ length: input.population - (g === 0 ? 1 : 0) }, (_, i) => book.train(uniformParams(input.genes, live, rng), `r${run}.${g}.${i}`)),
      );
      best = ranked([best, ...children])[0]!;
      curve.push(best.trainScore);
    }
    return { best: curve, champion: best };
  };
}

function classicSearch(input: SimulationInput): RunSearch {
  const policy = evolutionPolicySchema.parse({
    suite: "simulation",
    mutationRate: 0.25,
    ...input.classic,
    genes: input.genes,
    population: input.population,
    generationsPerRun: input.generations,
  });
  const earlier: PoolCandidate[] = [];
  const asParent = (c: PoolCandidate): Parent & { c: PoolCandidate } => ({ id: c.id, params: c.params, score: c.trainScore, sizeBytes: c.sizeBytes, cost: 0, c });
  return async (live, run, book) => {
    // Seeds as run.ts picks them: live, then the best distinct genomes of earlier runs.
    const liveC = await book.train(live, `live${run}`);
    const seeds = [
      liveC,
      ...ranked(earlier)
        .filter((c) => c.hash !== liveC.hash)
        .slice(0, eliteCountOf(policy)),
    ].map(asParent);
    const rng0 = seededRng(`${input.seed}:${run}:0`);
    const plans = firstGeneration(seeds, policy, rng0).slice(seeds.length);
    let population = [...seeds, ...(await Promise.all(plans.map((p, i) => book.train(p.params, `k${run}.0.${i}`)))).map(asParent)];
    const curve: number[] = [];
    for (let g = 0; ; g++) {
      earlier.push(...population.map((p) => p.c));
      curve.push(Math.max(...earlier.map((c) => c.trainScore)));
      if (g === input.generations - 1) break;
      const { survivors } = select(population, policy);
      const next = nextGeneration(survivors, policy, seededRng(`${input.seed}:${run}:${g + 1}`));
      population = [...survivors, ...(await Promise.all(next.map((p, i) => book.train(p.params, `k${run}.${g + 1}.${i}`)))).map(asParent)];
    }
    return { best: curve, champion: ranked(population.map((p) => p.c))[0]! };
  };
}

function adaptiveSearch(input: SimulationInput): RunSearch {
  let pool: PoolCandidate[] = [];
  let es: EsState | undefined;
  const screen = input.screen === undefined ? DEFAULT_SCREEN : input.screen;
  return async (live, run, book) => {
    es = resumeEs(es, input.genes, live, input.es);
    const liveC = await book.train(live, `live${run}`);
    pool = updatePool(pool, [liveC], input.trainIds);
    const curve: number[] = [];
    for (let g = 0; g < input.generations; g++) {
      const rng = seededRng(`${input.seed}:${run}:${g}`);
      const count = input.population - (g === 0 ? 1 : 0);
      const oversample = screen ? Math.max(1, input.oversample ?? DEFAULT_OVERSAMPLE) : 1;
      const { plans } = planChildren({ pool, es, genes: input.genes, baseParams: live, count: count * oversample, rng, trainIds: input.trainIds, mix: input.mix });
      // One minibatch per parent and generation, so the children of one parent compare fairly.
      const screenRng = seededRng(`${input.seed}:${run}:${g}:screen`);
      const batches = new Map<string, string[]>();
      const screened = await Promise.all(
        plans.map(async (plan) => {
          const hash = hashOf(plan.params);
          if (!screen) return { hash, params: plan.params, pass: true, screenScore: 0 };
          const parent = pool.find((c) => c.id === plan.parents[0]) ?? champion(pool)!;
          if (!batches.has(parent.id)) batches.set(parent.id, screeningCases(parent.caseScores, input.trainIds, screen, screenRng));
          const ids = batches.get(parent.id)!;
          const verdict = passesScreen(await book.run(plan.params, ids), parent.caseScores, ids);
          return { hash, params: plan.params, pass: verdict.pass, screenScore: verdict.child - verdict.parent };
        }),
      );
      // The best passers (by minibatch gain, then plan order) get the full evaluation, up to the population.
      const chosen = new Set(
        screened
          .map((c, i) => ({ c, i }))
          .filter(({ c }) => c.pass)
          .sort((a, b) => b.c.screenScore - a.c.screenScore || a.i - b.i)
          .slice(0, count)
          .map(({ i }) => i),
      );
      book.state.screenedOut += screened.length - chosen.size;
      const children = await Promise.all(
        screened.map(async (c, i): Promise<RankedChild & { full?: PoolCandidate }> => {
          if (!chosen.has(i)) return { hash: c.hash, params: c.params, screenScore: c.screenScore };
          const full = await book.train(c.params, `a${run}.${g}.${i}`);
          return { hash: c.hash, params: c.params, trainScore: full.trainScore, full };
        }),
      );
      pool = updatePool(
        pool,
        children.flatMap((c) => (c.full ? [c.full] : [])),
        input.trainIds,
      );
      es = updateEs(es, input.genes, rankForEs(children), { negative: input.negative, meanRate: input.meanRate });
      curve.push(champion(pool)!.trainScore);
    }
    return { best: curve, champion: champion(pool)! };
  };
}

/** Runs `runs` evolution runs of one strategy, gating each run's champion against live. */
export async function simulate(input: SimulationInput): Promise<SimulationReport> {
  const book = ledger(input);
  const search = input.strategy === "random" ? randomSearch(input) : input.strategy === "classic" ? classicSearch(input) : adaptiveSearch(input);
  const allIds = [...input.trainIds, ...input.heldOutIds];
  const liveScores = async (params: Params) => {
    const all = await input.evaluate(params);
    return { heldOut: meanOf(all, input.heldOutIds), all: meanOf(all, allIds) };
  };
  let live = input.startParams;
  const runs: RunReport[] = [];
  for (let r = 0; r < input.runs; r++) {
    const before = await liveScores(live);
    const { best, champion: champ } = await search(live, r, book);
    const isLive = canonicalJson(champ.params) === canonicalJson(live);
    const verdict = isLive ? { pass: false, childHeldOut: before.heldOut, signTest: { wins: 0, losses: 0, pValue: 1 } } : await gate(input, book, champ.params, live);
    if (verdict.pass) live = champ.params;
    runs.push({
      bestTrainByGeneration: best,
      champion: { train: champ.trainScore, heldOut: verdict.childHeldOut },
      liveBefore: before,
      promoted: verdict.pass,
      signTest: verdict.signTest,
      liveAfter: await liveScores(live),
    });
  }
  return {
    strategy: input.strategy,
    caseRuns: book.state.caseRuns,
    candidates: book.state.candidates,
    screenedOut: book.state.screenedOut,
    caseRunsToTarget: book.state.caseRunsToTarget,
    candidatesToTarget: book.state.candidatesToTarget,
    runs,
    finalLive: runs.at(-1)?.liveAfter ?? (await liveScores(live)),
  };
}
