// evolution/reflect.ts — what a reflective rewrite shows the rewriting model. Pure: rewrite.ts calls the model.
import { canonicalJson, utf8Length } from "../registry/canonical";
import type { AgentSpec } from "../registry/spec";
import type { Rng } from "./prng";

/** One training case as a rewrite request shows it: what went in, what came out, what each check said. */
export interface ReflectiveCase {
  caseId: string;
  input: unknown;
  /** The agent's output as short canonical JSON (a CaseResult's `output`). */
  output?: string;
  /** "code: detail" when the run failed. */
  error?: string;
  score: number;
  /** One line per check, pass or fail (a CaseResult's `feedback`). */
  feedback: string[];
  uncertain?: boolean;
}

/** What a rewrite replaces: an llm agent's prompt or `params.system`, or a code agent's code. */
export type RewriteTarget = "prompt" | "system" | "code";

/** Cases shown per rewrite request: enough failures to generalise from, small enough to stay a few KB. */
export const REFLECTIVE_MINIBATCH = 8;

const INPUT_SHOWN_CHARS = 1000;
const OUTPUT_SHOWN_CHARS = 1000;
const FEEDBACK_SHOWN_CHARS = 300;

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Joins a suite's cases with one candidate's results into reflective cases (results without a suite case are skipped). */
export function reflectiveCases(
  suiteCases: readonly { id: string; input: unknown }[],
  results: readonly { caseId: string; score: number; uncertain?: boolean; output?: string; error?: { code: string; detail: string } | string; feedback?: string[] }[],
): ReflectiveCase[] {
  const inputs = new Map(suiteCases.map((c) => [c.id, c.input]));
  return results
    .filter((r) => inputs.has(r.caseId))
    .map((r) => ({
      caseId: r.caseId,
      input: inputs.get(r.caseId),
      score: r.score,
      feedback: r.feedback ?? [],
      ...(r.output !== undefined ? { output: r.output } : {}),
      ...(r.error ? { error: typeof r.error === "string" ? r.error : `${r.error.code}: ${r.error.detail}` } : {}),
      ...(r.uncertain ? { uncertain: true } : {}),
    }));
}

const isTrain = (trainIds: ReadonlySet<string> | readonly string[]) => {
  const set = trainIds instanceof Set ? trainIds : new Set(trainIds as readonly string[]);
  return (id: string) => set.has(id);
};

/**
 * The minibatch one rewrite slot shows: the parent's failing training cases (score < 1, judges
 * agreeing), sampled without replacement with weight 1 − score so the worst come first, seeded so
 * parallel slots see different failures. Held-out ids never pass. Empty when nothing fails.
 */
export function selectReflectiveCases<T extends { caseId: string; score: number; uncertain?: boolean }>(
  parentCases: readonly T[],
  trainIds: ReadonlySet<string> | readonly string[],
  size: number = REFLECTIVE_MINIBATCH,
  rng: Rng,
): T[] {
  const train = isTrain(trainIds);
  const failing = parentCases.filter((c) => train(c.caseId) && !c.uncertain && c.score < 1);
  // Efraimidis–Spirakis keys: u^(1/w) gives a weighted sample without replacement in one sort.
  const keyed = failing.map((c) => ({ c, key: rng.next() ** (1 / Math.max(1e-3, 1 - c.score)) }));
  keyed.sort((x, y) => y.key - x.key);
  return keyed
    .slice(0, Math.max(0, size))
    .map((k) => k.c)
    .sort((x, y) => x.score - y.score || (x.caseId < y.caseId ? -1 : x.caseId > y.caseId ? 1 : 0));
}

/** The training cases where `a` scores higher than `b`, as `a` ran them: what a merge must keep from `a`. */
export function casesWon(
  a: readonly ReflectiveCase[],
  b: readonly { caseId: string; score: number; uncertain?: boolean }[],
  trainIds: ReadonlySet<string> | readonly string[],
): ReflectiveCase[] {
  const train = isTrain(trainIds);
  const other = new Map(b.map((c) => [c.caseId, c]));
  return a.filter((c) => {
    const o = other.get(c.caseId);
    return train(c.caseId) && o && !c.uncertain && !o.uncertain && c.score > o.score + 1e-9;
  });
}

/** The text a target names in a spec, or why the spec has none. */
export function targetText(spec: AgentSpec, target: RewriteTarget): { ok: true; text: string } | { ok: false; reason: string } {
  if (target === "code") return spec.kind === "code" ? { ok: true, text: spec.code } : { ok: false, reason: `code rewrites need a code agent, not ${spec.kind}` };
  if (spec.kind !== "llm") return { ok: false, reason: `${target} rewrites need an llm agent, not ${spec.kind}` };
  if (target === "prompt") return { ok: true, text: spec.prompt };
  const system = spec.params.system;
  if (system !== undefined && typeof system !== "string") return { ok: false, reason: "params.system is not a string" };
  return { ok: true, text: system ?? "" };
}

/** The spec with the target's text replaced. */
export function withTargetText(spec: AgentSpec, target: RewriteTarget, text: string): unknown {
  if (target === "code") return { ...spec, code: text };
  if (target === "prompt") return { ...spec, prompt: text };
  return { ...spec, params: { ...spec.params, system: text } };
}

/** Params as the request shows them: a system text being rewritten is shown once, as the current text. */
const shownParams = (spec: AgentSpec, target: RewriteTarget) => {
  if (target !== "system") return canonicalJson(spec.params);
  const { system: _shownAbove, ...rest } = spec.params;
  return canonicalJson(rest);
};

const NOUN: Record<RewriteTarget, string> = { prompt: "prompt", system: "system text", code: "code" };

const TARGET_FIELD: Record<RewriteTarget, string> = { prompt: "spec.prompt", system: "spec.params.system", code: "spec.code" };

const TARGET_NOTE: Record<RewriteTarget, string> = {
  prompt:
    "The prompt is the user message template of every run: {{input}}, {{input.field}} and {{params.name}} are filled in before the model sees it, so keep the placeholders the agent needs to see its input.",
  system: "The system text is sent as the system prompt of every run (params.system); {{input.field}} and {{params.name}} placeholders are filled in there too.",
  code: "The code is an ES module whose default export has async run(input, ctx) and returns the output. It may not import anything, use eval or new Function, or reach any network host it is not granted.",
};

const ANSWER_RULE = (noun: string) =>
  `Answer with the complete new ${noun} inside the first fenced block (\`\`\`): it replaces the current one verbatim, so include everything that should stay. Anything outside the first fenced block is ignored.`;

/** A fence longer than any backtick run inside the text, so the text can never close it early. */
function fenced(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  return `${fence}\n${text}\n${fence}`;
}

/** How many bytes the target's text may take so the whole canonical spec stays within the limit. */
export function textBudget(spec: AgentSpec, target: RewriteTarget, text: string, maxSpecBytes: number): { now: number; max: number } {
  const specBytes = utf8Length(canonicalJson(spec));
  const now = utf8Length(JSON.stringify(text)) - 2;
  // A system text the spec lacks also adds its key: ,"system":"" is 12 bytes.
  const absent = target === "system" && spec.params.system === undefined ? 12 : 0;
  const others = specBytes - (absent ? 0 : now) + absent;
  return { now, max: Math.max(0, maxSpecBytes - others) };
}

function header(spec: AgentSpec, target: RewriteTarget): string {
  const model = spec.kind === "llm" ? `, model ${spec.model}` : "";
  return [
    `Agent: ${spec.name} ${spec.version} (${spec.kind}${model})`,
    ...(spec.description ? [`Description: ${spec.description}`] : []),
    `Target: the ${NOUN[target]} (${TARGET_FIELD[target]})`,
  ].join("\n");
}

function sizeLine(target: RewriteTarget, budget: { now: number; max: number }, maxSpecBytes: number): string {
  return `Size: the new ${NOUN[target]} may be at most ${budget.max} bytes (it is ${budget.now} bytes now; newlines and quotes count 2), so the whole spec stays within ${maxSpecBytes} bytes.`;
}

/** One case as its own block of labelled lines. */
export function renderCase(c: ReflectiveCase, index: number, total: number): string {
  const lines = [`Case ${index + 1} of ${total} (id ${JSON.stringify(c.caseId)}, score ${Number(c.score.toFixed(3))})`, `Input: ${cut(canonicalJson(c.input), INPUT_SHOWN_CHARS)}`];
  if (c.output !== undefined || !c.error) lines.push(`Output: ${c.output === undefined ? "nothing" : cut(c.output, OUTPUT_SHOWN_CHARS)}`);
  if (c.error) lines.push(`Error: ${cut(c.error, OUTPUT_SHOWN_CHARS)}`);
  lines.push("Feedback:", ...(c.feedback.length ? c.feedback : ["(no check feedback recorded)"]).map((f) => `- ${cut(f.replace(/\s*\n\s*/g, " "), FEEDBACK_SHOWN_CHARS)}`));
  return lines.join("\n");
}

const renderCases = (cases: readonly ReflectiveCase[]) => cases.map((c, i) => renderCase(c, i, cases.length)).join("\n\n");

export interface ModelRequest {
  system: string;
  user: string;
}

/** The request that asks for one rewrite of `target`, shown only the given (training) cases. */
export function rewriteRequest(o: { spec: AgentSpec; target: RewriteTarget; cases: readonly ReflectiveCase[]; maxSpecBytes: number }): ModelRequest {
  const current = targetText(o.spec, o.target);
  if (!current.ok) throw new Error(current.reason);
  const noun = NOUN[o.target];
  const system =
    `You improve an AI agent by rewriting its ${noun}. You are shown its current ${noun}, its params, and training cases it gets wrong or scores lowest on: ` +
    `each case has the input, the agent's output or error, and one feedback line per check saying what was expected. ` +
    `Work out why the agent failed these cases and write a better version of the ${noun} that gets them right while keeping what already works. Keep the same input and output contract. ` +
    `${TARGET_NOTE[o.target]} ` +
    ANSWER_RULE(noun);
  const cases = o.cases.length
    ? `Cases (${o.cases.length} training cases it gets wrong or scores lowest on):\n\n${renderCases(o.cases)}`
    : "Cases: none fail; make the agent more robust without changing what it answers.";
  const user = [
    header(o.spec, o.target),
    `Current ${noun}:\n${current.text ? fenced(current.text) : `${fenced("")}\n(empty: the agent has no ${noun} yet)`}`,
    `Params (JSON): ${shownParams(o.spec, o.target)}`,
    sizeLine(o.target, textBudget(o.spec, o.target, current.text, o.maxSpecBytes), o.maxSpecBytes),
    cases,
    ANSWER_RULE(noun),
  ].join("\n\n");
  return { system, user };
}

export interface MergeSide {
  spec: AgentSpec;
  /** Training cases this side gets right (or scores higher on) that the other side does not. */
  wins: readonly ReflectiveCase[];
}

/** The request that asks for one text combining two candidates that lead on different cases. The merge lands in `a`'s spec. */
export function mergeRequest(o: { target: RewriteTarget; a: MergeSide; b: MergeSide; maxSpecBytes: number }): ModelRequest {
  const a = targetText(o.a.spec, o.target);
  const b = targetText(o.b.spec, o.target);
  if (!a.ok) throw new Error(a.reason);
  if (!b.ok) throw new Error(b.reason);
  const noun = NOUN[o.target];
  const Noun = noun[0]!.toUpperCase() + noun.slice(1);
  const system =
    `You merge two versions of an AI agent's ${noun}. Each gets some training cases right that the other gets wrong; you are shown both and those cases. ` +
    `Write one ${noun} that keeps what makes each version right on its cases. Keep the same input and output contract. ` +
    `${TARGET_NOTE[o.target]} ` +
    ANSWER_RULE(noun);
  const wins = (side: string, other: string, cases: readonly ReflectiveCase[]) =>
    `Cases ${side} gets right and ${other} gets wrong (${cases.length}, as ${side} ran them):${cases.length ? `\n\n${renderCases(cases)}` : " none"}`;
  const user = [
    header(o.a.spec, o.target),
    `${Noun} A:\n${fenced(a.text)}`,
    `${Noun} B:\n${fenced(b.text)}`,
    `Params (JSON, kept from A): ${shownParams(o.a.spec, o.target)}`,
    sizeLine(o.target, textBudget(o.a.spec, o.target, a.text, o.maxSpecBytes), o.maxSpecBytes),
    wins("A", "B", o.a.wins),
    wins("B", "A", o.b.wins),
    ANSWER_RULE(`merged ${noun}`),
  ].join("\n\n");
  return { system, user };
}
