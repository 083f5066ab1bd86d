import { buildApp } from "./api/app";
import type { Env } from "./env";
import { handleQueue } from "./messaging/consumer";
import { pruneReceipts } from "./messaging/receipts";
import { evolutionCron } from "./evolution/cron";
import { continueTrace } from "./observability/context";
import { EVOLUTION_DEAD_LETTER_QUEUE, EVOLUTION_QUEUE } from "./evolution/messages";
import { handleEvolutionBatch, handleEvolutionDeadLetters } from "./evolution/queue";
import { DAILY_BACKUP_CRON, writeBackup } from "./backup/store";
import { asInvocation } from "./invocation";
import { capDynamicWorkers, perRequestCap, SandboxSlots } from "./runtime/dynamic-workers";

export { Squad } from "./squad/squad";
export { RateLimiter } from "./auth/rate-limiter";
export { TopicStream } from "./messaging/stream";
export { EgressGate } from "./runtime/host";
export { EvolutionRun } from "./evolution/workflow";
export { AwsDeployment } from "./deploy/aws/workflow";
export { MetricsAggregator } from "./observability/aggregator";
export { EventHub } from "./observability/event-hub";
export { RunBuffer } from "./runtime/run-buffer";
export { ReceiptShard } from "./messaging/receipts";

const app = buildApp();

export default {
  fetch: app.fetch,
  queue: async (batch, env, ctx) => {
    // One batch is one Worker request: its agent runs and evaluations share the 4-distinct-Dynamic-Workers cap.
    const capped = capDynamicWorkers(env, new SandboxSlots(perRequestCap(env)));
    // What the batch records (run records, metrics) is sent when it ends, not when a batching window's timer fires.
    return asInvocation(async () => {
      if (batch.queue === EVOLUTION_QUEUE) return handleEvolutionBatch(batch, capped);
      if (batch.queue === EVOLUTION_DEAD_LETTER_QUEUE) return handleEvolutionDeadLetters(batch, env);
      return handleQueue(batch, capped, ctx);
    });
  },
  scheduled: async (controller, env) => {
    if (controller.cron === DAILY_BACKUP_CRON) return void (await writeBackup(env, controller.scheduledTime));
    // Pruning old message receipts rides on the same cron; neither job waits on the other's failure.
    const [evolution, pruning] = await Promise.allSettled([
      continueTrace(null, () => evolutionCron(env, controller.scheduledTime)),
      pruneReceipts(env.RECEIPTS, controller.scheduledTime),
    ]);
    if (pruning.status === "rejected") console.error(JSON.stringify({ at: "pruneReceipts", error: String(pruning.reason) }));
    if (evolution.status === "rejected") throw evolution.reason;
  },
} satisfies ExportedHandler<Env>;
