import type { FieldError } from "../../errors";
import type { AgentSpec } from "../../registry/spec";
import { fillTemplate } from "../../runtime/template";
import type { AwsTarget } from "./schema";

/** Bedrock Agents' agentName pattern (bedrock-agent service model): no two separators in a row. */
export const BEDROCK_NAME = /^([0-9a-zA-Z][_-]?){1,100}$/;
/** AgentCore's agentRuntimeName pattern: a letter, then letters, digits or underscores, at most 48. */
export const AGENTCORE_NAME = /^[a-zA-Z][a-zA-Z0-9_]{0,47}$/;
export const INSTRUCTION_MIN = 40;
export const INSTRUCTION_MAX = 4000;
export const DESCRIPTION_MAX = 200;

/** The Bedrock agent for a registry agent has the same name (registry slugs are already lowercase alphanumerics and `-`). */
export const bedrockAgentName = (name: string) => name;
/** AgentCore forbids `-`: each becomes `_`. Registry names never contain `_`, so the mapping is one-to-one. */
export const agentCoreRuntimeName = (name: string) => name.replaceAll("-", "_");

/**
 * The instruction a Bedrock agent gets: the prompt with `{{params.*}}` filled in (an agent's
 * instruction is static). The run's input arrives as the user's message (`inputText`), so
 * `{{input…}}` placeholders become a reference to it.
 */
export function bedrockInstruction(prompt: string, params: Record<string, unknown>): string {
  const withParams = prompt.replace(/\{\{\s*params((?:\.[A-Za-z0-9_$-]+)*)\s*\}\}/g, (match) => fillTemplate(match, { input: null, params }));
  return withParams.replace(/\{\{\s*input((?:\.[A-Za-z0-9_$-]+)*)\s*\}\}/g, "the user's message");
}

/** A rule broken, named so the 422 says which. */
const broken = (rule: string, path: string, message: string): FieldError => ({ path, message: `${rule}: ${message}` });

/** Everything AWS would refuse about this spec for this target, checked before any AWS call. Pure. */
export function deployProblems(spec: AgentSpec, target: AwsTarget): FieldError[] {
  const problems: FieldError[] = [];
  if (spec.description.length > DESCRIPTION_MAX) {
    problems.push(broken("description-length", "description", `is ${spec.description.length} characters; AWS allows at most ${DESCRIPTION_MAX}`));
  }
  if (target === "bedrock-agent") {
    if (spec.kind !== "llm") return [broken("target-kind", "target", `bedrock-agent deploys llm agents; this is a ${spec.kind} agent`)];
    const name = bedrockAgentName(spec.name);
    if (!BEDROCK_NAME.test(name)) problems.push(broken("bedrock-name-pattern", "name", `${name} does not match ([0-9a-zA-Z][_-]?){1,100} (no two hyphens in a row)`));
    const instruction = bedrockInstruction(spec.prompt, spec.params);
    if (instruction.length < INSTRUCTION_MIN || instruction.length > INSTRUCTION_MAX) {
      problems.push(broken("instruction-length", "prompt", `the rendered instruction is ${instruction.length} characters; Bedrock requires ${INSTRUCTION_MIN}–${INSTRUCTION_MAX}`));
    }
  } else {
    if (spec.kind !== "code") return [broken("target-kind", "target", `agentcore-runtime deploys code agents; this is a ${spec.kind} agent`)];
    const name = agentCoreRuntimeName(spec.name);
    if (!AGENTCORE_NAME.test(name)) problems.push(broken("agentcore-name-pattern", "name", `${name} (from ${spec.name}) does not match [a-zA-Z][a-zA-Z0-9_]{0,47}`));
  }
  return problems;
}

/** The target a kind deploys to when the caller names none. */
export const defaultTarget = (kind: AgentSpec["kind"]): AwsTarget | undefined => (kind === "llm" ? "bedrock-agent" : kind === "code" ? "agentcore-runtime" : undefined);
