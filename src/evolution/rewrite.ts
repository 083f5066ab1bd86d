import type { Env } from "../env";
import { converse } from "../models/converse";
import { agentSpecSchema, type AgentSpec } from "../registry/spec";

/** Rewrites need Bedrock; offline, evolution uses the parameter operators only. */
export const rewritesAvailable = (env: Env) => Boolean(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY);

const DEFAULT_REWRITE_MODEL = "anthropic.claude-3-haiku-20240307-v1:0";

const SYSTEM =
  "You improve AI agents. You are given an agent's current prompt or code. Propose one improved version that keeps the same input and output contract. " +
  "Reply with only the new text inside one fenced block (```), nothing else. Code must be an ES module whose default export has async run(input, ctx); it may not import anything, use eval or Function, or contact any network host.";

/** Takes the first fenced block of a reply (or the whole reply when there is none). */
export function fencedBlock(text: string): string {
  const m = /```[a-zA-Z]*\n([\s\S]*?)```/.exec(text);
  return (m ? m[1]! : text).trim();
}

/**
 * Asks a Bedrock model to rewrite the prompt (llm agents) or code (code agents) of a spec. The
 * answer is a candidate like any other: it is evaluated, selected and gated, never trusted.
 */
export async function proposeRewrite(env: Env, spec: AgentSpec, mode: "prompt" | "code", modelId?: string): Promise<{ spec: AgentSpec; tokens: number } | undefined> {
  const current = spec.kind === "llm" && mode === "prompt" ? spec.prompt : spec.kind === "code" && mode === "code" ? spec.code : undefined;
  if (current === undefined) return undefined;
  const reply = await converse(env, {
    modelId: modelId ?? (spec.kind === "llm" ? spec.model : DEFAULT_REWRITE_MODEL),
    system: SYSTEM,
    messages: [{ role: "user", content: `Agent: ${spec.name} — ${spec.description}\nParams it receives: ${JSON.stringify(spec.params)}\n\nCurrent ${mode}:\n\`\`\`\n${current}\n\`\`\`` }],
    maxTokens: 2000,
    temperature: 0.7,
  });
  const text = fencedBlock(reply.text);
  if (!text || text === current) return undefined;
  const parsed = agentSpecSchema.safeParse(mode === "prompt" ? { ...spec, prompt: text } : { ...spec, code: text });
  return parsed.success ? { spec: parsed.data, tokens: reply.usage.totalTokens } : undefined;
}
