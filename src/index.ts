import { buildApp } from "./api/app";
import type { Env } from "./env";
import { handleQueue } from "./messaging/consumer";
import { evolutionCron } from "./evolution/cron";
import { EVOLUTION_QUEUE } from "./evolution/messages";
import { handleEvolutionBatch } from "./evolution/queue";

export { Squad } from "./squad/squad";
export { RateLimiter } from "./auth/rate-limiter";
export { TopicStream } from "./messaging/stream";
export { EgressGate } from "./runtime/host";

const app = buildApp();

export default {
  fetch: app.fetch,
  queue: (batch, env, ctx) => (batch.queue === EVOLUTION_QUEUE ? handleEvolutionBatch(batch, env) : handleQueue(batch, env, ctx)),
  scheduled: async (controller, env) => {
    await evolutionCron(env, controller.scheduledTime);
  },
} satisfies ExportedHandler<Env>;
