import type { Env } from "../env";
import { runPendingEvaluation } from "../evaluation/pending";
import { evolutionMessageSchema } from "./messages";

/**
 * Consumer of tdev-evolution: long suite evaluations (POST …/evaluate answered 202). Each is
 * idempotent (runPendingEvaluation completes a pending row once), so redelivery is harmless.
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
      try {
        await runPendingEvaluation(env, parsed.data.evaluationId);
        message.ack();
      } catch (err) {
        console.error(JSON.stringify({ at: "evolution.queue", type: parsed.data.type, attempts: message.attempts, error: (err as Error).message }));
        message.retry({ delaySeconds: Math.min(60, 2 ** message.attempts) });
      }
    }),
  );
}
