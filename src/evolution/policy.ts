import { z } from "@hono/zod-openapi";
import { MAX_SPEC_BYTES } from "../registry/spec";

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
    mutationRate: z.number().min(0).max(1).default(0.3).openapi({ description: "Chance that each gene of a child is mutated." }),
    crossoverRate: z.number().min(0).max(1).default(0.5).openapi({ description: "Chance that a child is bred from two parents rather than one." }),
    genes: z
      .record(z.string().min(1).max(64), geneSchema)
      .refine((g) => Object.keys(g).length >= 1 && Object.keys(g).length <= 64, "declare between 1 and 64 genes")
      .openapi({ description: "The top-level keys of `params` evolution may change, with their ranges or choices." }),
    rewrites: z.enum(["off", "prompt", "code"]).default("off").openapi({ description: "Let a Bedrock model propose prompt or code rewrites (needs Bedrock)." }),
    rewriteModel: z.string().min(1).max(200).optional(),
    minImprovement: z.number().min(0).max(1).default(0.02).openapi({ description: "How much a child must beat live by on held-out cases." }),
    maxSizeBytes: z.number().int().min(100).max(MAX_SPEC_BYTES).default(MAX_SPEC_BYTES),
    seed: z.number().int().min(0).max(0xffffffff).optional().openapi({ description: "Makes runs reproducible; default derived from the agent id." }),
    eliteCount: z.number().int().min(1).max(16).optional().openapi({ description: "Best candidates carried to the next generation unchanged (default a quarter of the population)." }),
    tournamentSize: z.number().int().min(2).max(8).default(3),
    budget: z
      .object({
        maxEvaluations: z.number().int().min(1).max(1_000_000).default(20_000).openapi({ description: "Case runs per evolution run." }),
        maxTokens: z.number().int().min(0).max(10_000_000).default(200_000).openapi({ description: "Model tokens (judges and rewrites) per evolution run." }),
      })
      .strict()
      .default({ maxEvaluations: 20_000, maxTokens: 200_000 }),
    canary: z
      .object({
        window: z.number().int().min(1).max(10_000).default(20).openapi({ description: "Live runs of the canary (and of the previous live version) compared before promotion to live." }),
      })
      .strict()
      .default({ window: 20 }),
    enabled: z.boolean().default(true).openapi({ description: "Whether the cron starts runs for this agent." }),
  })
  .strict()
  .openapi("EvolutionPolicyInput");

export type EvolutionPolicy = z.infer<typeof evolutionPolicySchema>;

export const eliteCountOf = (p: Pick<EvolutionPolicy, "population" | "eliteCount">) => Math.min(p.population - 1, p.eliteCount ?? Math.max(1, Math.round(p.population / 4)));

/** Case runs a run needs at most: every candidate of every generation on every case (reused results cost nothing). */
export function plannedEvaluations(p: Pick<EvolutionPolicy, "population" | "generationsPerRun">, caseCount: number): number {
  return p.population * p.generationsPerRun * caseCount;
}
