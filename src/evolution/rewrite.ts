// evolution/rewrite.ts — reflective rewrites and merges: ask a Bedrock model, keep only a valid new spec.
import type { Env } from "../env";
import { converse } from "../models/converse";
import { canonicalJson, utf8Length } from "../registry/canonical";
import { agentSpecSchema, MAX_SPEC_BYTES, type AgentSpec } from "../registry/spec";
import { DEFAULT_REWRITE_MODEL } from "./policy";
import { mergeRequest, rewriteRequest, targetText, withTargetText, type MergeSide, type ModelRequest, type ReflectiveCase, type RewriteTarget } from "./reflect";

export { DEFAULT_REWRITE_MODEL };
export type { MergeSide, ReflectiveCase, RewriteTarget };

/** Rewrites need Bedrock; offline, evolution uses the parameter operators only. */
export const rewritesAvailable = (env: Env) => Boolean(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY);

/** The policy's rewriting model, else an llm agent's own model, else DEFAULT_REWRITE_MODEL. */
export const rewriteModelFor = (spec: AgentSpec, policyRewriteModel?: string): string => policyRewriteModel ?? (spec.kind === "llm" ? spec.model : DEFAULT_REWRITE_MODEL);

/** Room for a whole 6.5 KB spec's text in the answer, with a little talk around it. */
const REPLY_MAX_TOKENS = 4096;

export type RewriteOutcome = { ok: true; spec: AgentSpec; tokens: number; modelId: string } | { ok: false; reason: string; tokens: number; modelId: string };

/**
 * The first fenced block of a reply (``` or longer, any info string), closed by a fence of the same
 * length; `unclosed` when the reply ends inside it (usually cut off at the token limit).
 */
export function firstFencedBlock(reply: string): { text: string } | { unclosed: true } | undefined {
  const open = /(`{3,})[^\n`]*\n/.exec(reply);
  if (!open) return undefined;
  const fence = open[1]!;
  const rest = reply.slice(open.index + open[0].length);
  const close = new RegExp(`(^|\\n)[ \\t]*${fence}(?!\`)`).exec(rest) ?? new RegExp(`${fence}(?!\`)`).exec(rest);
  return close ? { text: rest.slice(0, close.index) } : { unclosed: true };
}

/** The parsing contract: the first fenced block replaces the target's text, if the result is a valid, new spec within the limit. */
export function applyRewrite(
  spec: AgentSpec,
  target: RewriteTarget,
  replyText: string,
  maxSpecBytes: number = MAX_SPEC_BYTES,
  parents: readonly AgentSpec[] = [spec],
): { ok: true; spec: AgentSpec } | { ok: false; reason: string } {
  const current = targetText(spec, target);
  if (!current.ok) return current;
  const block = firstFencedBlock(replyText);
  if (!block) return { ok: false, reason: "no fenced block in the reply" };
  if ("unclosed" in block) return { ok: false, reason: "the fenced block is never closed (the reply was probably cut off)" };
  const text = block.text.trim();
  if (!text) return { ok: false, reason: "the fenced block is empty" };
  for (const parent of parents) {
    const theirs = targetText(parent, target);
    if (theirs.ok && theirs.text.trim() === text) return { ok: false, reason: parents.length > 1 ? "same as a parent" : "same as the parent" };
  }
  const parsed = agentSpecSchema.safeParse(withTargetText(spec, target, text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, reason: `spec invalid: ${issue.path.join(".") || "spec"}: ${issue.message}` };
  }
  const bytes = utf8Length(canonicalJson(parsed.data));
  if (bytes > maxSpecBytes) return { ok: false, reason: `over ${maxSpecBytes} bytes (the spec would be ${bytes})` };
  return { ok: true, spec: parsed.data };
}

interface AskOptions {
  modelId: string;
  temperature: number;
  deadline?: number;
}

/** One Converse call; a model failure becomes a reason, never an exception. */
async function ask(env: Env, request: ModelRequest, o: AskOptions): Promise<{ ok: true; text: string; tokens: number; stopReason: string } | { ok: false; reason: string }> {
  try {
    const reply = await converse(env, {
      modelId: o.modelId,
      system: request.system,
      messages: [{ role: "user", content: request.user }],
      maxTokens: REPLY_MAX_TOKENS,
      temperature: o.temperature,
      deadline: o.deadline,
    });
    return { ok: true, text: reply.text, tokens: reply.usage.totalTokens, stopReason: reply.stopReason };
  } catch (err) {
    const e = err as { code?: string; detail?: string; message?: string };
    return { ok: false, reason: `model error: ${e.code ?? "error"}: ${String(e.detail ?? e.message ?? err).slice(0, 300)}` };
  }
}

/** Drops any case the train set does not name: held-out cases must never reach a rewriting model. */
const trainOnly = (cases: readonly ReflectiveCase[], trainIds?: ReadonlySet<string> | readonly string[]) => {
  if (!trainIds) return cases;
  const train = trainIds instanceof Set ? trainIds : new Set(trainIds as readonly string[]);
  return cases.filter((c) => train.has(c.caseId));
};

export interface RewriteOptions {
  spec: AgentSpec;
  target: RewriteTarget;
  /** The parent's training cases to show (see selectReflectiveCases). */
  cases: readonly ReflectiveCase[];
  modelId?: string;
  maxSpecBytes?: number;
  /** When given, any case not named here is left out of the request. */
  trainIds?: ReadonlySet<string> | readonly string[];
  temperature?: number;
  deadline?: number;
}

/**
 * Asks a Bedrock model to rewrite a spec's prompt, system text or code, shown the parent's failing
 * training cases. The answer is a candidate like any other: evaluated, selected and gated, never trusted.
 */
export async function proposeRewrite(env: Env, o: RewriteOptions): Promise<RewriteOutcome> {
  const modelId = rewriteModelFor(o.spec, o.modelId);
  const maxSpecBytes = o.maxSpecBytes ?? MAX_SPEC_BYTES;
  const current = targetText(o.spec, o.target);
  if (!current.ok) return { ok: false, reason: current.reason, tokens: 0, modelId };
  const reply = await ask(env, rewriteRequest({ spec: o.spec, target: o.target, cases: trainOnly(o.cases, o.trainIds), maxSpecBytes }), {
    modelId,
    temperature: o.temperature ?? 0.7,
    deadline: o.deadline,
  });
  if (!reply.ok) return { ok: false, reason: reply.reason, tokens: 0, modelId };
  const applied = applyRewrite(o.spec, o.target, reply.text, maxSpecBytes);
  return applied.ok ? { ok: true, spec: applied.spec, tokens: reply.tokens, modelId } : { ok: false, reason: applied.reason, tokens: reply.tokens, modelId };
}

export interface MergeOptions {
  target: RewriteTarget;
  /** The merged text lands in a's spec (a's params and everything else are kept). */
  a: MergeSide;
  b: MergeSide;
  modelId?: string;
  maxSpecBytes?: number;
  trainIds?: ReadonlySet<string> | readonly string[];
  temperature?: number;
  deadline?: number;
}

/** Asks a Bedrock model to merge two candidates that lead on different training cases into one text. */
export async function proposeMerge(env: Env, o: MergeOptions): Promise<RewriteOutcome> {
  const modelId = rewriteModelFor(o.a.spec, o.modelId);
  const maxSpecBytes = o.maxSpecBytes ?? MAX_SPEC_BYTES;
  for (const side of [o.a.spec, o.b.spec]) {
    const t = targetText(side, o.target);
    if (!t.ok) return { ok: false, reason: t.reason, tokens: 0, modelId };
  }
  const request = mergeRequest({
    target: o.target,
    a: { spec: o.a.spec, wins: trainOnly(o.a.wins, o.trainIds) },
    b: { spec: o.b.spec, wins: trainOnly(o.b.wins, o.trainIds) },
    maxSpecBytes,
  });
  const reply = await ask(env, request, { modelId, temperature: o.temperature ?? 0.3, deadline: o.deadline });
  if (!reply.ok) return { ok: false, reason: reply.reason, tokens: 0, modelId };
  const applied = applyRewrite(o.a.spec, o.target, reply.text, maxSpecBytes, [o.a.spec, o.b.spec]);
  return applied.ok ? { ok: true, spec: applied.spec, tokens: reply.tokens, modelId } : { ok: false, reason: applied.reason, tokens: reply.tokens, modelId };
}
