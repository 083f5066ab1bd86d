import { z } from "zod";

/** Bodies on the tdev-evolution queue (evolution steps and long evaluations), parsed on arrival (nothing from a queue is cast). */
export const evolutionMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("generation"), v: z.literal(1), runId: z.string().min(1), generation: z.number().int().min(0) }),
  z.object({ type: z.literal("candidate"), v: z.literal(1), runId: z.string().min(1), candidateId: z.string().min(1) }),
  // A long suite's evaluation, answered 202 by POST …/evaluate and run here.
  z.object({ type: z.literal("evaluation"), v: z.literal(1), evaluationId: z.string().min(1) }),
]);

export type EvolutionMessage = z.infer<typeof evolutionMessageSchema>;

export const EVOLUTION_QUEUE = "tdev-evolution";
