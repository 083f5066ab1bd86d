import { z } from "@hono/zod-openapi";
import { MAX_SPEC_BYTES } from "../registry/spec";
import { DEFAULT_SCREEN } from "./screen";

/** The rewriting model for code agents when the policy names none (llm agents default to their own model). */
export const DEFAULT_REWRITE_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0";

const rangeGene = z
  .object({
    min: z.number(),
    max: z.number(),
    step: z.number().positive().optional().openapi({ description: "Values are rounded to multiples of this (1 for integers)." }),
  })
  .strict()
  .refine((g) => g.min < g.max, { message: "min must be below max", path: ["max"] });

const choiceGene = z.object({ choices: z.array(z.unknown()).min(2).max(64) }).strict();

export const geneSchema = z.union([rangeGene, choiceGene]).openapi("Gene");
export type Gene = z.infer<typeof geneSchema>;
export type Genes = Record<string, Gene>;

export const isRangeGene = (g: Gene): g is z.infer<typeof rangeGene> => "min" in g;

export const evolutionPolicySchema = z
  .object({
    suite: z.string().min(1).max(100).openapi({ description: "Suite id or name that scores the candidates." }),
    population: z.number().int().min(2).max(64).default(8),
    generationsPerRun: z.number().int().min(1).max(20).default(3),
    mutationRate: z.number().min(0).max(1).default(0.3).openapi({ description: "Chance that each choice gene of a mutant changes (range genes follow the adaptive strategy)." }),
    crossoverRate: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .openapi({ description: "Classic operators only (compared in npm run bench): chance that a child is bred from two parents." }),
    genes: z
      .record(z.string().min(1).max(64), geneSchema)
      .default({})
      .refine((g) => Object.keys(g).length <= 64, "declare at most 64 genes")
      .openapi({ description: "The top-level keys of `params` evolution may change, with their ranges or choices (may be empty when rewrites are on)." }),
    rewrites: z.enum(["off", "prompt", "system", "code"]).default("off").openapi({
      description:
        "Let a Bedrock model propose reflective rewrites, shown the parent's failing training cases: an llm agent's prompt or system text (`params.system`), or a code agent's code.",
    }),
    rewriteModel: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .openapi({ description: `The model that proposes rewrites and merges (default: an llm agent's own model, else ${DEFAULT_REWRITE_MODEL}).` }),
    rewriteSlots: z
      .number()
      .int()
      .min(0)
      .max(64)
      .optional()
      .openapi({ description: "Children per generation that are model rewrites or merges (default a quarter of the population; the whole population when no gene is declared)." }),
    screening: z.boolean().default(true).openapi({
      description:
        "Score each child first on a minibatch (its parent's failed training cases plus a seeded sample); only a child not worse than its parent there gets the full evaluation.",
    }),
    minImprovement: z.number().min(0).max(1).default(0.02).openapi({ description: "How much a child must beat live by on held-out cases." }),
    maxSizeBytes: z.number().int().min(100).max(MAX_SPEC_BYTES).default(MAX_SPEC_BYTES),
    seed: z.number().int().min(0).max(0xffffffff).optional().openapi({ description: "Makes runs reproducible; default derived from the agent id." }),
    eliteCount: z
      .number()
      .int()
      .min(1)
      .max(16)
      .optional()
      .openapi({ description: "Classic operators only: best candidates carried unchanged (default a quarter of the population)." }),
    tournamentSize: z.number().int().min(2).max(8).default(3).openapi({ description: "Classic operators only: tournament size of parent selection." }),
    budget: z
      .object({
        maxEvaluations: z.number().int().min(1).max(1_000_000).default(20_000).openapi({ description: "Case runs per evolution run." }),
        maxTokens: z.number().int().min(0).max(10_000_000).default(200_000).openapi({ description: "Model tokens (judges and rewrites) per evolution run." }),
      })
      .strict()
      .default({ maxEvaluations: 20_000, maxTokens: 200_000 }),
    canary: z
      .object({
        window: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(20)
          .openapi({ description: "Live runs of the canary (and of the previous live version) compared before promotion to live." }),
      })
      .strict()
      .default({ window: 20 }),
    enabled: z.boolean().default(true).openapi({ description: "Whether the cron starts runs for this agent." }),
  })
  .strict()
  .refine((p) => Object.keys(p.genes).length > 0 || p.rewrites !== "off", { message: "declare at least one gene, or turn rewrites on", path: ["genes"] })
  .openapi("EvolutionPolicyInput");

export type EvolutionPolicy = z.infer<typeof evolutionPolicySchema>;

/** Rewrite (and merge) slots of a generation: the policy's, else a quarter of the population, else all of it when nothing else breeds. */
export function rewriteSlotsOf(p: Pick<EvolutionPolicy, "population" | "rewrites" | "rewriteSlots" | "genes">): number {
  if (p.rewrites === "off") return 0;
  if (Object.keys(p.genes).length === 0) return p.population;
  return Math.min(p.population, p.rewriteSlots ?? Math.max(1, Math.round(p.population / 4)));
}

export const eliteCountOf = (p: Pick<EvolutionPolicy, "population" | "eliteCount">) => Math.min(p.population - 1, p.eliteCount ?? Math.max(1, Math.round(p.population / 4)));

/** Case runs one screening costs at most: the parent's failed cases plus a sample. */
const SCREEN_CASES = DEFAULT_SCREEN.maxFailed + DEFAULT_SCREEN.sampleSize;

/**
 * Case runs a run needs at most: every candidate of every generation on every case, plus, when
 * screening, a minibatch for each of twice as many planned children (reused results cost nothing).
 */
export function plannedEvaluations(p: Pick<EvolutionPolicy, "population" | "generationsPerRun" | "screening">, caseCount: number): number {
  const screening = p.screening === false ? 0 : 2 * Math.min(SCREEN_CASES, caseCount);
  return p.population * p.generationsPerRun * (caseCount + screening);
}
