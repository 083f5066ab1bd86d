import { buildApp } from "./api/app";
import type { Env } from "./env";
import { handleQueue } from "./messaging/consumer";
import { pruneReceipts } from "./messaging/receipts";
import { evolutionCron } from "./evolution/cron";
import { continueTrace } from "./observability/context";
import { EVOLUTION_DEAD_LETTER_QUEUE, EVOLUTION_QUEUE } from "./evolution/messages";
import { handleEvolutionBatch, handleEvolutionDeadLetters } from "./evolution/queue";
import { DAILY_BACKUP_CRON, writeBackup } from "./backup/store";
import { flushMetrics } from "./observability/record";
import { capDynamicWorkers, perRequestCap, SandboxSlots } from "./runtime/dynamic-workers";
import { flushRunRecords } from "./runtime/run-writer";

export { Squad } from "./squad/squad";
export { RateLimiter } from "./auth/rate-limiter";
export { TopicStream } from "./messaging/stream";
export { EgressGate } from "./runtime/host";
export { EvolutionRun } from "./evolution/workflow";
export { AwsDeployment } from "./deploy/aws/workflow";
export { MetricsAggregator } from "./observability/aggregator";
export { EventHub } from "./observability/event-hub";
export { RunBuffer } from "./runtime/run-buffer";

const app = buildApp();

export default {
  fetch: app.fetch,
  queue: async (batch, env, ctx) => {
    // One batch is one Worker request: its agent runs and evaluations share the 4-distinct-Dynamic-Workers cap.
    const capped = capDynamicWorkers(env, new SandboxSlots(perRequestCap(env)));
    try {
      if (batch.queue === EVOLUTION_QUEUE) return await handleEvolutionBatch(batch, capped);
      if (batch.queue === EVOLUTION_DEAD_LETTER_QUEUE) return await handleEvolutionDeadLetters(batch, env);
      return await handleQueue(batch, capped, ctx);
    } finally {
      // The batch is done: what it recorded goes out now, not when the batching windows' timers fire.
      flushRunRecords();
      flushMetrics();
    }
  },
  scheduled: async (controller, env) => {
    if (controller.cron === DAILY_BACKUP_CRON) return void (await writeBackup(env, controller.scheduledTime));
    // Pruning old message receipts rides on the same cron; neither job waits on the other's failure.
    const [evolution, pruning] = await Promise.allSettled([continueTrace(null, () => evolutionCron(env, controller.scheduledTime)), pruneReceipts(env.DB, controller.scheduledTime)]);
    if (pruning.status === "rejected") console.error(JSON.stringify({ at: "pruneReceipts", error: String(pruning.reason) }));
    if (evolution.status === "rejected") throw evolution.reason;
  },
} satisfies ExportedHandler<Env>;
