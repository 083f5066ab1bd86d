import { buildApp } from "./api/app";
import type { Env } from "./env";
import { evolutionCron } from "./evolution/cron";
import { handleEvolutionBatch } from "./evolution/queue";

export { Squad } from "./squad/squad";
export { RateLimiter } from "./auth/rate-limiter";
export { EgressGate } from "./runtime/host";

const app = buildApp();

export default {
  fetch: app.fetch,
  queue: (batch, env) => handleEvolutionBatch(batch, env),
  scheduled: async (controller, env) => {
    await evolutionCron(env, controller.scheduledTime);
  },
} satisfies ExportedHandler<Env>;
