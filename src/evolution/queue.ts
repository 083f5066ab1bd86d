import type { Env } from "../env";
import { runPendingEvaluation } from "../evaluation/pending";
import { evolutionMessageSchema } from "./messages";
import { completeGeneration, evaluateCandidate, runGeneration } from "./run";
import { and, eq } from "drizzle-orm";
import { registryDb } from "../registry/store";
import { evolutionCandidates } from "./schema";

/** After this many failed deliveries a candidate is dropped (with the error) so its run can go on. */
const MAX_ATTEMPTS = 5;

/**
 * Consumer of tdev-evolution: plans generations and evaluates candidates. Every step is
 * idempotent (see run.ts), so redelivery and concurrent batches never double a run's work.
 */
export async function handleEvolutionBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      const parsed = evolutionMessageSchema.safeParse(message.body);
      if (!parsed.success) {
        console.error(JSON.stringify({ at: "evolution.queue", error: "malformed message", issues: parsed.error.issues.slice(0, 3) }));
        message.ack();
        return;
      }
      const body = parsed.data;
      try {
        if (body.type === "evaluation") await runPendingEvaluation(env, body.evaluationId);
        else if (body.type === "generation") await runGeneration(env, body.runId, body.generation);
        else if ((await evaluateCandidate(env, body.runId, body.candidateId)) === "retry") {
          message.retry({ delaySeconds: 30 });
          return;
        }
        message.ack();
      } catch (err) {
        console.error(JSON.stringify({ at: "evolution.queue", type: body.type, attempts: message.attempts, error: (err as Error).message }));
        if (body.type === "candidate" && message.attempts >= MAX_ATTEMPTS) {
          const [dropped] = await registryDb(env.DB)
            .update(evolutionCandidates)
            .set({ status: "dropped", kept: false, reason: `evaluation kept failing: ${(err as Error).message.slice(0, 200)}`, evaluatedAt: Date.now() })
            .where(and(eq(evolutionCandidates.id, body.candidateId), eq(evolutionCandidates.runId, body.runId)))
            .returning({ generation: evolutionCandidates.generation });
          if (dropped) await completeGeneration(env, body.runId, dropped.generation).catch(() => undefined);
          message.ack();
          return;
        }
        message.retry({ delaySeconds: Math.min(60, 2 ** message.attempts) });
      }
    }),
  );
}
