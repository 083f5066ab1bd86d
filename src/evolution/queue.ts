import type { Env } from "../env";
import { runPendingEvaluation } from "../evaluation/pending";
import { completePendingEvaluation } from "../evaluation/store";
import { DEAD_LETTER_EVENT } from "../messaging/dead-letter-alert";
import { publishEvent, SYSTEM_TOPIC } from "../messaging/events";
import { countMetric } from "../observability/record";
import { registryDb } from "../registry/store";
import { EVOLUTION_DEAD_LETTER_QUEUE, evolutionMessageSchema } from "./messages";

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

/**
 * Consumer of tdev-evolution-dlq: an evaluation whose message ran out of retries would otherwise stay
 * "running" for ever. It is marked failed (if still running), counted and announced like any dead letter.
 */
export async function handleEvolutionDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = registryDb(env.DB);
  for (const message of batch.messages) {
    const parsed = evolutionMessageSchema.safeParse(message.body);
    const evaluationId = parsed.success ? parsed.data.evaluationId : null;
    if (evaluationId) await completePendingEvaluation(db, evaluationId, { error: `gave up after ${message.attempts} attempts (dead-lettered)` });
    countMetric("tdev_dead_letters_total", { reason: "max_retries", queue: EVOLUTION_DEAD_LETTER_QUEUE });
    await publishEvent(env, SYSTEM_TOPIC, DEAD_LETTER_EVENT, {
      id: `qm_${message.id}`,
      reason: "max_retries",
      queue: EVOLUTION_DEAD_LETTER_QUEUE,
      target: evaluationId && `evaluation:${evaluationId}`,
      kind: "evaluation",
      attempts: message.attempts,
    });
    message.ack();
  }
}
