import { z } from "@hono/zod-openapi";
import { agentName } from "../registry/spec";
import { capabilityToken, consensusSchema } from "../squad/task";

/** Most steps one workflow may hold. */
export const MAX_STEPS = 1000;

export const stepId = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/, "must start with a letter or _ and hold letters, digits, _ or - (at most 64)");

const agentRef = z.string().regex(/^[a-z][a-z0-9-]{0,62}(@[0-9A-Za-z.+-]+|#[a-z0-9-]+)?$/, "must be name, name@version or name#channel");

export const stepSchema = z
  .object({
    id: stepId,
    agent: agentRef.optional().openapi({ description: "A member agent's name (or name@version / name#channel of a member)." }),
    capability: capabilityToken.optional(),
    input: z.unknown().optional().openapi({ description: "Any JSON; {{input.x}} and {{steps.a.output.v}} templates. Omitted: the run's input." }),
    dependsOn: z.array(stepId).max(MAX_STEPS).default([]),
    retries: z.number().int().min(0).max(10).optional(),
    timeoutMs: z.number().int().min(10).max(300_000).optional(),
    consensus: consensusSchema.optional(),
    when: z
      .union([z.string().max(2000), z.boolean()])
      .optional()
      .openapi({ description: 'Template; the step runs only if it renders to a truthy value (false, null, 0, "" and "false" skip it).' }),
    onError: z.enum(["fail", "continue"]).default("fail"),
  })
  .strict()
  .refine((s) => (s.agent === undefined) !== (s.capability === undefined), { message: "give exactly one of agent or capability", path: ["agent"] })
  .openapi("WorkflowStep");

export const workflowSchema = z
  .object({
    name: agentName.openapi({ description: "Workflow name; each stored change becomes a new version." }),
    description: z.string().max(2000).default(""),
    steps: z.array(stepSchema).min(1),
  })
  .strict()
  .openapi("Workflow");

export type WorkflowStep = z.infer<typeof stepSchema>;
export type Workflow = z.infer<typeof workflowSchema>;
export type Levels = string[][];
