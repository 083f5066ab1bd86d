import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { squadStub } from "../squad/directory";

/** What the squad routers (squads.ts, squad-streams.ts, squad-runs.ts) share: their tag, the squad id parameter, its object. */
export const tags = ["squads"];

export const idParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" }, description: "Squad id (sqd_…)" }),
});

export const stub = (c: Context<AppEnv>, id: string) => squadStub(c.env, id);
