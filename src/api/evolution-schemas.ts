import { z } from "@hono/zod-openapi";
import { evolutionPolicySchema } from "../evolution/policy";

/** The shapes the evolution routes answer with (evolution.ts), named for the OpenAPI document. */

export const policySchema = evolutionPolicySchema
  .extend({ agentId: z.string(), suiteId: z.string(), plannedEvaluations: z.number().int(), updatedAt: z.string(), updatedBy: z.string() })
  .openapi("EvolutionPolicy");

const budgetSchema = z.object({ maxEvaluations: z.number().int(), maxTokens: z.number().int(), evaluationsUsed: z.number().int(), tokensUsed: z.number().int() });

export const runSummarySchema = z
  .object({
    id: z.string(),
    agentId: z.string(),
    status: z.enum(["queued", "running", "completed", "failed"]),
    trigger: z.string(),
    slot: z.string(),
    seed: z.number().int(),
    baseVersion: z.string(),
    suiteId: z.string(),
    generation: z.number().int(),
    generations: z.number().int(),
    budget: budgetSchema,
    screening: z
      .object({ screenedOut: z.number().int(), evaluationsSaved: z.number().int() })
      .openapi({ description: "Children minibatch screening kept from a full evaluation, and the case runs that saved." }),
    outcome: z.record(z.string(), z.unknown()).nullable(),
    error: z.string().nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
    traceId: z
      .string()
      .nullable()
      .openapi({ description: "W3C trace id of the request or cron tick that started the run; the runs of its candidates' evaluations carry it (GET /runs?traceId=)" }),
  })
  .openapi("EvolutionRunSummary");

export const candidateSchema = z
  .object({
    id: z.string(),
    generation: z.number().int(),
    operator: z.string().openapi({
      description: "seed | es | merge | mutation | merge:model | rewrite:prompt | rewrite:code (crossover and crossover+mutation on runs made before the adaptive search)",
    }),
    parents: z.array(z.string()),
    sourceVersion: z.string().nullable(),
    status: z.string(),
    trainScore: z.number().nullable(),
    heldOutScore: z.number().nullable(),
    score: z.number().nullable(),
    sizeBytes: z.number().int(),
    cost: z.number().nullable(),
    reusedFrom: z.string().nullable(),
    caseRuns: z
      .number()
      .int()
      .openapi({ description: "Case runs this candidate cost this run: its screening minibatch, plus the rest when fully evaluated (0 when results were reused)." }),
    kept: z.boolean().nullable(),
    reason: z.string().nullable().openapi({ description: "Why it was kept or dropped (per-case Pareto pool, screening, duplicate, budget, rewrite, gate)." }),
    gate: z.record(z.string(), z.unknown()).nullable(),
    version: z.string().nullable(),
    traceId: z.string().nullable().openapi({ description: "The run's W3C trace id: its evaluation runs carry it (GET /runs?traceId=)" }),
  })
  .openapi("EvolutionCandidate");

export const runSchema = runSummarySchema
  .extend({
    generationStats: z.array(
      z.object({ generation: z.number().int(), best: z.number(), median: z.number(), worst: z.number(), evaluated: z.number().int(), survivors: z.array(z.string()) }),
    ),
    candidates: z.array(candidateSchema),
  })
  .openapi("EvolutionRun");

export const approvalSchema = z
  .object({
    id: z.string(),
    agentId: z.string(),
    runId: z.string(),
    candidateId: z.string(),
    version: z.string(),
    reasons: z.array(z.string()),
    status: z.enum(["pending", "approved", "rejected"]),
    createdAt: z.string(),
    decidedAt: z.string().nullable(),
    decidedBy: z.string().nullable(),
    note: z.string().nullable(),
  })
  .openapi("EvolutionApproval");

export const statsSchema = z
  .object({
    autonomyRatio: z.number().nullable().openapi({ description: "Automatic promotions / all promotions, measured; null before the first." }),
    promotions: z.object({ total: z.number().int(), automatic: z.number().int(), approved: z.number().int(), byStatus: z.record(z.string(), z.number()) }),
    rollbacks: z.number().int(),
    blocks: z.object({ total: z.number().int(), byRule: z.record(z.string(), z.number()) }),
    gated: z.number().int(),
    approvals: z.record(z.string(), z.number()),
    runs: z.record(z.string(), z.number()),
    candidates: z.record(z.string(), z.number()),
  })
  .openapi("EvolutionStats");

export const candidateDiffSchema = z
  .object({
    id: z.string(),
    operator: z.string(),
    parents: z.array(z.string()),
    sourceVersion: z.string().nullable(),
    spec: z.record(z.string(), z.unknown()),
    parent: z
      .object({ id: z.string(), spec: z.record(z.string(), z.unknown()) })
      .nullable()
      .openapi({ description: "The first parent named (null for a seed: see sourceVersion)." }),
    changes: z
      .array(z.object({ field: z.string(), parent: z.unknown(), child: z.unknown() }))
      .openapi({ description: "Spec fields that differ from the parent, params gene by gene (params.<gene>)." }),
  })
  .openapi("EvolutionCandidateDiff");
