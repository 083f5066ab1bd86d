import { z } from "@hono/zod-openapi";
import { agentName, semverString } from "../registry/spec";

/** One member of a squad: an agent pinned to a channel (default `live`) or to an exact version. */
export const memberSchema = z
  .object({
    agent: agentName,
    channel: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,31}$/, "must be a lowercase channel name")
      .optional(),
    version: semverString.optional(),
    weight: z.number().positive().max(1000).default(1).openapi({ description: "Share of load relative to other members (default 1)." }),
  })
  .strict()
  .refine((m) => !(m.channel && m.version), { message: "give a channel or a version, not both", path: ["version"] })
  .openapi("SquadMember");

export const policySchema = z
  .object({
    maxConcurrency: z.number().int().min(1).max(64).default(4).openapi({ description: "Most tasks running at once." }),
    taskTimeoutMs: z.number().int().min(10).max(300_000).default(30_000).openapi({ description: "Wall-clock limit of one attempt on one member." }),
    retries: z.number().int().min(0).max(10).default(2).openapi({ description: "Extra rounds after every capable member has failed once." }),
    agingMs: z
      .number()
      .int()
      .min(1000)
      .max(86_400_000)
      .default(30_000)
      .openapi({ description: "Aging: a queued task gains +1 effective priority per agingMs spent waiting, so no priority starves." }),
    breakerThreshold: z.number().int().min(1).max(100).default(3).openapi({ description: "Consecutive failures that open a member's breaker." }),
    breakerCooldownMs: z.number().int().min(100).max(3_600_000).default(30_000).openapi({ description: "How long an open breaker keeps a member out before a trial." }),
    paused: z.boolean().default(false).openapi({ description: "A paused squad accepts tasks but starts none." }),
  })
  .strict()
  .openapi("SquadPolicy");

export const squadConfigSchema = z
  .object({
    name: z.string().min(1).max(100),
    description: z.string().max(2000).default(""),
    members: z.array(memberSchema).min(1).max(50),
    policy: policySchema.default(policySchema.parse({})),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.members.forEach((m, i) => {
      const key = memberKey(m);
      if (seen.has(key)) ctx.addIssue({ code: "custom", path: ["members", i], message: `duplicate member ${key}` });
      seen.add(key);
    });
  })
  .openapi("SquadConfig");

export type Member = z.infer<typeof memberSchema>;
export type Policy = z.infer<typeof policySchema>;
export type SquadConfig = z.infer<typeof squadConfigSchema>;

/** The agent reference a member runs, in the form the runtime resolves: `name@1.2.0` or `name#channel`. */
export function memberKey(m: Pick<Member, "agent" | "channel" | "version">): string {
  return m.version ? `${m.agent}@${m.version}` : `${m.agent}#${m.channel ?? "live"}`;
}
