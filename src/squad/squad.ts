import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";

/** One Durable Object per squad. Its behaviour arrives with the squads issue; the binding exists so names agree. */
export class Squad extends DurableObject<Env> {}
