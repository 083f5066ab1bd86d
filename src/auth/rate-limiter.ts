import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";

/** Token bucket per credential, consistent across isolates because one object owns each bucket. */
export class RateLimiter extends DurableObject<Env> {}
