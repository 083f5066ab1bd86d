import { z } from "zod";
import type { Params } from "./operators";
import { isRangeGene, type Genes } from "./policy";
import type { Rng } from "./prng";

/**
 * A separable CMA-ES (Ros & Hansen 2008) over the range genes: a mean, a global step size with
 * cumulative step-size adaptation, and a diagonal covariance. It works in normalised coordinates
 * (each gene's range mapped to [0, 1]) and rounds to each gene's `step` only when it writes params.
 * Evaluated params are fed back as they are (rounded, clamped, or bred by other operators), so
 * the update treats every ranked candidate as an injected solution and clips its length.
 * The state is plain JSON, so it can be stored between generations and carried into the next run.
 */

export const esStateSchema = z
  .object({
    v: z.literal(1),
    /** The range genes the coordinates stand for, in this order. */
    genes: z.array(z.string()),
    mean: z.array(z.number()),
    sigma: z.number().positive(),
    /** The diagonal of the covariance matrix (variances per coordinate, before sigma). */
    diag: z.array(z.number().positive()),
    pathSigma: z.array(z.number()),
    pathCov: z.array(z.number()),
    /** Updates made so far (the path's bias correction needs it). */
    updates: z.number().int().min(0),
  })
  .strict();
export type EsState = z.infer<typeof esStateSchema>;

export interface EsOptions {
  /** Initial step size in normalised units (a fraction of each gene's range). */
  sigma?: number;
}

/** A new start step of a fifth of each range: wide enough to leave a flat start, small enough to keep its shape. */
export const DEFAULT_SIGMA = 0.2;
const MIN_SIGMA = 1e-3;
const MAX_SIGMA = 0.6;
/** Smallest per-gene spread, in steps: narrower samples would all round to the mean. */
const MIN_STEPS = 0.6;

/** The range genes in a stable order: the ES's coordinates. */
export const rangeGeneKeys = (genes: Genes): string[] =>
  Object.keys(genes)
    .filter((k) => isRangeGene(genes[k]!))
    .sort();

function rangeOf(genes: Genes, key: string): { min: number; max: number; step?: number } {
  const gene = genes[key];
  if (!gene || !isRangeGene(gene)) throw new Error(`${key} is not a range gene`);
  return gene;
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

/** A gene's value in normalised coordinates; a missing or non-numeric value counts as the middle. */
function normalise(genes: Genes, key: string, value: unknown): number {
  const g = rangeOf(genes, key);
  return typeof value === "number" && Number.isFinite(value) ? clamp01((value - g.min) / (g.max - g.min)) : 0.5;
}

/** The value a normalised coordinate stands for: clamped to the range and rounded to its step. */
export function denormalise(genes: Genes, key: string, x: number): number {
  const g = rangeOf(genes, key);
  const value = g.min + clamp01(x) * (g.max - g.min);
  if (!g.step) return value;
  const stepped = g.min + Math.round((value - g.min) / g.step) * g.step;
  // Trim float noise (0.30000000000000004) and never round past the range.
  return Number(Math.min(g.max, Math.max(g.min, stepped)).toFixed(10));
}

/** A gene's step as a fraction of its range (0 for continuous genes). */
function stepFraction(genes: Genes, key: string): number {
  const g = rangeOf(genes, key);
  return g.step ? g.step / (g.max - g.min) : 0;
}

/** The ES centred on `startParams`, with an isotropic spread. */
export function initEs(genes: Genes, startParams: Params, opts: EsOptions = {}): EsState {
  const keys = rangeGeneKeys(genes);
  return {
    v: 1,
    genes: keys,
    mean: keys.map((k) => normalise(genes, k, startParams[k])),
    sigma: opts.sigma ?? DEFAULT_SIGMA,
    diag: keys.map(() => 1),
    pathSigma: keys.map(() => 0),
    pathCov: keys.map(() => 0),
    updates: 0,
  };
}

/**
 * The ES for the current genes, carrying what a stored state learnt: coordinates of genes it
 * knew keep their mean, variance and paths; new genes start at `startParams` with unit variance.
 * Without a usable state it starts afresh. Call it at the start of every run.
 */
export function resumeEs(previous: unknown, genes: Genes, startParams: Params, opts: EsOptions = {}): EsState {
  const parsed = esStateSchema.safeParse(previous);
  const fresh = initEs(genes, startParams, opts);
  if (!parsed.success) return fresh;
  const old = parsed.data;
  const at = new Map(old.genes.map((k, i) => [k, i]));
  const carry = (field: "mean" | "diag" | "pathSigma" | "pathCov") => fresh.genes.map((k, i) => (at.has(k) ? old[field][at.get(k)!]! : fresh[field][i]!));
  return { ...fresh, mean: carry("mean"), diag: carry("diag"), pathSigma: carry("pathSigma"), pathCov: carry("pathCov"), sigma: old.sigma, updates: old.updates };
}

/** Per-coordinate standard deviation of the samples: sigma·√C, but never below a fraction of a step. */
function spreads(state: EsState, genes: Genes): number[] {
  return state.genes.map((k, i) => Math.max(state.sigma * Math.sqrt(state.diag[i]!), MIN_STEPS * stepFraction(genes, k)));
}

/** Writes a normalised point into params: range genes rounded and clamped, every other key from `base`. */
export function pointToParams(state: EsState, genes: Genes, base: Params, x: readonly number[]): Params {
  const params: Params = { ...base };
  state.genes.forEach((k, i) => {
    params[k] = denormalise(genes, k, x[i]!);
  });
  return params;
}

/** The ES mean as params (rounded): the search's current centre. */
export const esMeanParams = (state: EsState, genes: Genes, base: Params): Params => pointToParams(state, genes, base, state.mean);

/**
 * `count` samples around the mean, in mirrored pairs (x = m ± σ·√C·z), which halves the noise of
 * the update for free. A sample that rounds to one already drawn is re-drawn a few times.
 */
export function sampleEs(state: EsState, genes: Genes, baseParams: Params, count: number, rng: Rng): Params[] {
  if (state.genes.length === 0) return [];
  const sd = spreads(state, genes);
  const seen = new Set<string>([JSON.stringify(esMeanParams(state, genes, baseParams))]);
  const out: Params[] = [];
  let mirror: number[] | undefined;
  for (let attempts = 0; out.length < count && attempts < count * 6; attempts++) {
    let z: number[];
    if (mirror) {
      z = mirror.map((v) => -v);
      mirror = undefined;
    } else {
      z = state.genes.map(() => rng.normal());
      mirror = z;
    }
    const params = pointToParams(
      state,
      genes,
      baseParams,
      state.mean.map((m, i) => m + sd[i]! * z[i]!),
    );
    const key = JSON.stringify(params);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(params);
  }
  return out;
}

/** A candidate of a generation with its rank (0 = best); equal candidates share the mean of their ranks. */
export interface EsRanked {
  params: Params;
  rank: number;
}

/**
 * Weights by rank position: log-linear, the better half positive (summing to 1), the worse half
 * negative (summing to -negative). Candidates with equal rank share the mean of their positions'
 * weights, so ties on a plateau carry no made-up order.
 */
function rankWeights(ranked: readonly EsRanked[], negative: number): number[] {
  const lambda = ranked.length;
  const raw = Array.from({ length: lambda }, (_, i) => Math.log((lambda + 1) / 2) - Math.log(i + 1));
  const pos = raw.filter((r) => r > 0).reduce((a, b) => a + b, 0);
  const neg = -raw.filter((r) => r < 0).reduce((a, b) => a + b, 0);
  const byPosition = raw.map((r) => (r > 0 ? r / pos : r < 0 && neg > 0 ? (negative * r) / neg : 0));
  const order = ranked.map((c, i) => ({ rank: c.rank, i })).sort((a, b) => a.rank - b.rank || a.i - b.i);
  const out = new Array<number>(lambda).fill(0);
  for (let start = 0; start < lambda; ) {
    let end = start;
    while (end + 1 < lambda && Math.abs(order[end + 1]!.rank - order[start]!.rank) < 1e-9) end++;
    const shared = byPosition.slice(start, end + 1).reduce((a, b) => a + b, 0) / (end - start + 1);
    for (let k = start; k <= end; k++) out[order[k]!.i] = shared;
    start = end + 1;
  }
  return out;
}

/** How far the worse half pushes the mean away from itself, relative to the better half's pull. */
export const NEGATIVE_WEIGHT = 1;

/**
 * One sep-CMA-ES update from a generation's ranked candidates (at least two), any order.
 * Each candidate's step from the mean is clipped to the length a sample usually has, so a
 * rounded, clamped or crossed-over candidate cannot throw the paths off. The mean also moves
 * away from the worse half (a mirrored pair then acts as a finite difference).
 */
export function updateEs(state: EsState, genes: Genes, ranked: readonly EsRanked[], opts: { negative?: number; meanRate?: number } = {}): EsState {
  const n = state.genes.length;
  if (n === 0 || ranked.length < 2) return state;
  const w = rankWeights(ranked, opts.negative ?? NEGATIVE_WEIGHT);
  const positive = w.map((x) => Math.max(0, x));
  const posSum = positive.reduce((a, b) => a + b, 0);
  const muEff = posSum ** 2 / positive.reduce((s, x) => s + x * x, 0);
  const sd = spreads(state, genes);
  const chiN = Math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n));
  const maxLength = Math.sqrt(n) + (2 * n) / (n + 2);

  // Steps per candidate in units of the sampling spread (z), clipped to a typical sample's length.
  const steps = ranked.map(({ params }) => {
    const z = state.genes.map((k, i) => (normalise(genes, k, params[k]) - state.mean[i]!) / sd[i]!);
    const length = Math.sqrt(z.reduce((s, v) => s + v * v, 0));
    const scale = length > maxLength ? maxLength / length : 1;
    return z.map((v) => v * scale);
  });
  const combine = (weights: readonly number[]) => state.genes.map((_, i) => steps.reduce((s, z, j) => s + weights[j]! * z[i]!, 0));
  const zMean = combine(w);
  const zw = combine(positive.map((x) => x / posSum));
  // sd[i] = σ·√C_i (floored), so y_i = sd_i·z_i / σ.
  const yw = zw.map((z, i) => (sd[i]! * z) / state.sigma);

  const mean = state.mean.map((m, i) => clamp01(m + (opts.meanRate ?? 1) * sd[i]! * zMean[i]!));

  const cs = (muEff + 2) / (n + muEff + 5);
  const ds = 1 + 2 * Math.max(0, Math.sqrt((muEff - 1) / (n + 1)) - 1) + cs;
  const pathSigma = state.pathSigma.map((p, i) => (1 - cs) * p + Math.sqrt(cs * (2 - cs) * muEff) * zw[i]!);
  const psNorm = Math.sqrt(pathSigma.reduce((s, v) => s + v * v, 0));
  const sigma = Math.min(MAX_SIGMA, Math.max(MIN_SIGMA, state.sigma * Math.exp((cs / ds) * (psNorm / chiN - 1))));

  const updates = state.updates + 1;
  const hsig = psNorm / Math.sqrt(1 - (1 - cs) ** (2 * updates)) < (1.4 + 2 / (n + 1)) * chiN ? 1 : 0;
  const cc = (4 + muEff / n) / (n + 4 + (2 * muEff) / n);
  const pathCov = state.pathCov.map((p, i) => (1 - cc) * p + hsig * Math.sqrt(cc * (2 - cc) * muEff) * yw[i]!);
  // Separable CMA learns the diagonal (n + 2) / 3 times faster than full CMA may.
  const sep = (n + 2) / 3;
  const c1 = Math.min(1, (sep * 2) / ((n + 1.3) ** 2 + muEff));
  const cmu = Math.min(1 - c1, (sep * 2 * (muEff - 2 + 1 / muEff)) / ((n + 2) ** 2 + muEff));
  const diag = state.diag.map((c, i) => {
    const rankMu = steps.reduce((s, z, j) => s + (positive[j]! / posSum) * ((sd[i]! * z[i]!) / state.sigma) ** 2, 0);
    const next = (1 - c1 - cmu) * c + c1 * (pathCov[i]! ** 2 + (1 - hsig) * cc * (2 - cc) * c) + cmu * rankMu;
    // Keep the covariance well conditioned: no coordinate may freeze or explode.
    return Math.min(1e4, Math.max(1e-4, next));
  });
  return { ...state, mean, sigma, diag, pathSigma, pathCov, updates };
}
