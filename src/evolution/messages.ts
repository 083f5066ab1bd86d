import { z } from "zod";

/**
 * Bodies on the tdev-evolution queue, parsed on arrival (nothing from a queue is cast): a long
 * suite's evaluation, answered 202 by POST …/evaluate and run here. Evolution runs themselves are
 * Workflow instances (workflow.ts).
 */
export const evolutionMessageSchema = z.discriminatedUnion("type", [z.object({ type: z.literal("evaluation"), v: z.literal(1), evaluationId: z.string().min(1) })]);

export type EvolutionMessage = z.infer<typeof evolutionMessageSchema>;

export const EVOLUTION_QUEUE = "tdev-evolution";
/** Where tdev-evolution messages go after max_retries (wrangler.toml). */
export const EVOLUTION_DEAD_LETTER_QUEUE = "tdev-evolution-dlq";
