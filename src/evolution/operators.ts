import { canonicalJson, sha256Hex } from "../registry/canonical";
import type { AgentSpec } from "../registry/spec";
import { isRangeGene, type Gene, type Genes } from "./policy";
import type { Rng } from "./prng";

export type Params = Record<string, unknown>;

/**
 * Content hash of what a candidate does, ignoring its name and version, so re-tries are recognised
 * and the same seed on the same data breaks ties the same way whatever the agent is called.
 */
export async function genomeHash(spec: AgentSpec): Promise<string> {
  return sha256Hex(canonicalJson({ ...spec, name: "", version: "0.0.0" }));
}

function roundTo(value: number, step: number | undefined): number {
  if (!step) return value;
  // Round in step units, then trim float noise such as 0.30000000000000004.
  return Number((Math.round(value / step) * step).toFixed(10));
}

/** A new value for one gene: a normal step of a quarter of the range, clamped; or a different choice. */
export function mutateGene(gene: Gene, current: unknown, rng: Rng): unknown {
  if (isRangeGene(gene)) {
    const base = typeof current === "number" && Number.isFinite(current) ? current : (gene.min + gene.max) / 2;
    const span = gene.max - gene.min;
    for (let attempt = 0; attempt < 8; attempt++) {
      const next = roundTo(Math.min(gene.max, Math.max(gene.min, base + rng.normal() * span * 0.25)), gene.step);
      if (next !== base) return next;
    }
    return roundTo(gene.min + rng.next() * span, gene.step);
  }
  const others = gene.choices.filter((c) => canonicalJson(c) !== canonicalJson(current));
  return others.length ? rng.pick(others) : current;
}

/** Mutates each gene with probability `rate`; at least one gene always changes, so a mutant is never its parent. */
export function mutateParams(params: Params, genes: Genes, rate: number, rng: Rng): { params: Params; changed: string[] } {
  const keys = Object.keys(genes).sort();
  const next: Params = { ...params };
  const changed: string[] = [];
  for (const key of keys) {
    if (rng.next() < rate) {
      next[key] = mutateGene(genes[key]!, params[key], rng);
      if (canonicalJson(next[key]) !== canonicalJson(params[key])) changed.push(key);
    }
  }
  if (changed.length === 0 && keys.length) {
    const key = rng.pick(keys);
    next[key] = mutateGene(genes[key]!, params[key], rng);
    if (canonicalJson(next[key]) !== canonicalJson(params[key])) changed.push(key);
  }
  return { params: next, changed };
}

/** Uniform crossover: each gene comes from either parent with equal chance; everything else from the first. */
export function crossoverParams(a: Params, b: Params, genes: Genes, rng: Rng): Params {
  const child: Params = { ...a };
  for (const key of Object.keys(genes).sort()) {
    if (rng.next() < 0.5 && key in b) child[key] = b[key];
  }
  return child;
}

/** The same spec with other params: the only thing parameter operators change. */
export function withParams(spec: AgentSpec, params: Params): AgentSpec {
  return { ...spec, params };
}
