import { buildApp } from "./api/app";
import type { Env } from "./env";

export { Squad } from "./squad/squad";
export { RateLimiter } from "./auth/rate-limiter";
export { EgressGate } from "./runtime/host";

const app = buildApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
