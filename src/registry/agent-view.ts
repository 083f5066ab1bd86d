import { z } from "@hono/zod-openapi";

/** An agent as the API shows it: its identity and latest version, not its specs. */
export const agentViewSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    kind: z.string(),
    capabilities: z.array(z.string()),
    latestVersion: z.string(),
    retired: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Agent");

export type AgentView = z.infer<typeof agentViewSchema>;
