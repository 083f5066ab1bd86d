import { z } from "@hono/zod-openapi";

/** A dotted path into the agent's output (`label`, `items.0.name`); absent means the whole output. */
const outputPath = z
  .string()
  .regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, "must be a dotted path such as result.label")
  .max(200)
  .optional();

export const judgeConfigSchema = z
  .object({
    models: z.array(z.string().min(1).max(200)).min(1).max(7).openapi({ description: "Bedrock model ids; each scores the rubric, the median is the consensus." }),
    maxSpread: z
      .number()
      .min(0)
      .max(1)
      .default(0.3)
      .openapi({ description: "When the highest and lowest judge scores differ by more than this, the case is uncertain and left out of the score." }),
  })
  .strict();

export const checkSchema = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("equals"), path: outputPath, value: z.unknown() }).strict(),
    z.object({ type: z.literal("contains"), path: outputPath, value: z.union([z.string(), z.number(), z.boolean(), z.null()]) }).strict(),
    z
      .object({
        type: z.literal("regex"),
        path: outputPath,
        pattern: z.string().min(1).max(500),
        flags: z
          .string()
          .regex(/^[imsu]*$/)
          .optional(),
      })
      .strict(),
    z.object({ type: z.literal("jsonSchema"), path: outputPath, schema: z.record(z.string(), z.unknown()) }).strict(),
    z.object({ type: z.literal("number"), path: outputPath, value: z.number(), tolerance: z.number().min(0).default(0) }).strict(),
    z.object({ type: z.literal("maxLatencyMs"), value: z.number().int().positive() }).strict(),
    z.object({ type: z.literal("maxTokens"), value: z.number().int().nonnegative() }).strict(),
    z
      .object({
        type: z.literal("judge"),
        path: outputPath,
        rubric: z.string().min(1).max(2000),
        passAt: z.number().min(0).max(1).default(0.5).openapi({ description: "Consensus score at or above which the check passes." }),
        judges: judgeConfigSchema.optional().openapi({ description: "Overrides the suite's judges for this check." }),
      })
      .strict(),
  ])
  .superRefine((check, ctx) => {
    if (check.type !== "regex") return;
    try {
      new RegExp(check.pattern, check.flags);
    } catch (err) {
      ctx.addIssue({ code: "custom", path: ["pattern"], message: `is not a valid regular expression: ${(err as Error).message}` });
    }
  })
  .openapi("Check");

export const caseSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, "must be a short id of letters, digits, dot, colon, dash or underscore"),
    input: z.unknown(),
    checks: z.array(checkSchema).min(1).max(16),
    weight: z.number().positive().max(100).default(1),
    guard: z.boolean().default(false).openapi({ description: "A guard case may never regress in an evolved child." }),
  })
  .strict()
  .openapi("SuiteCase");

export const suiteInputSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, "must be a lowercase slug"),
    agent: z.string().min(1).max(100).openapi({ description: "The agent (id or name) this suite scores." }),
    description: z.string().max(2000).default(""),
    judges: judgeConfigSchema.optional(),
    cases: z.array(caseSchema).min(1).max(500),
  })
  .strict()
  .superRefine((suite, ctx) => {
    const seen = new Set<string>();
    suite.cases.forEach((c, i) => {
      if (seen.has(c.id)) ctx.addIssue({ code: "custom", path: ["cases", i, "id"], message: `duplicate case id ${c.id}` });
      seen.add(c.id);
      c.checks.forEach((check, j) => {
        if (check.type === "judge" && !check.judges && !suite.judges) {
          ctx.addIssue({ code: "custom", path: ["cases", i, "checks", j, "judges"], message: "a judge check needs judges here or at the suite level" });
        }
      });
    });
  })
  .openapi("SuiteInput");

export type Check = z.infer<typeof checkSchema>;
export type SuiteCase = z.infer<typeof caseSchema>;
export type SuiteInput = z.infer<typeof suiteInputSchema>;
export type JudgeConfig = z.infer<typeof judgeConfigSchema>;

/** What evaluation needs of a stored suite. */
export interface Suite {
  id: string;
  name: string;
  agentId: string;
  judges?: JudgeConfig;
  cases: SuiteCase[];
  /** SHA-256 of the canonical cases and judges: results are reused only for the same content. */
  contentHash: string;
}
