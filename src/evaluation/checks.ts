import { Validator, type Schema } from "@cfworker/json-schema";
import { canonicalJson } from "../registry/canonical";
import type { Check } from "./suite";

/** What one sandbox run of one case produced, as the checks see it. */
export interface RunObservation {
  status: "succeeded" | "failed";
  output?: unknown;
  durationMs: number;
  totalTokens: number;
  error?: { code: string; detail: string };
}

export interface CheckResult {
  type: Check["type"];
  passed: boolean;
  /** In [0, 1]: 1 or 0 for deterministic checks, the judges' consensus for a judge. */
  score: number;
  detail?: string;
  /** One line, pass or fail, saying what the check wanted and what it saw (rewrite requests show it). */
  feedback: string;
  /** Judge checks only. */
  judges?: { model: string; score: number | null; error?: string }[];
  spread?: number;
  uncertain?: boolean;
}

/** Follows a dotted path (`a.b.0`) into a JSON value; undefined when any step is missing. */
export function atPath(value: unknown, path: string | undefined): unknown {
  if (!path) return value;
  let current: unknown = value;
  for (const key of path.split(".")) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

const pass = (type: Check["type"], passed: boolean, detail: string | undefined, feedback: string): CheckResult => ({
  type,
  passed,
  score: passed ? 1 : 0,
  ...(passed || !detail ? {} : { detail }),
  feedback,
});

const show = (v: unknown) => {
  const text = v === undefined ? "nothing" : canonicalJson(v);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
};

// Compiled validators are reused across the cases and candidates of a run.
const validators = new Map<string, Validator>();
function validatorFor(schema: Record<string, unknown>): Validator {
  const key = canonicalJson(schema);
  let v = validators.get(key);
  if (!v) {
    if (validators.size > 256) validators.clear();
    v = new Validator(schema as Schema, "2020-12", false);
    validators.set(key, v);
  }
  return v;
}

/** What the check looks at, for feedback: its path, or "output" for the whole output. */
const subject = (path: string | undefined) => path ?? "output";

/** The feedback line for a run that failed: what the rewriting model needs to see first. */
export const failedRunFeedback = (error: RunObservation["error"]) =>
  `the run failed: ${error?.code ?? "error"}${error?.detail ? `: ${error.detail.length > 200 ? `${error.detail.slice(0, 197)}...` : error.detail}` : ""}`;

/** Applies one deterministic check to a run. Judge checks are scored by `judgeCheck` instead. */
export function applyCheck(check: Exclude<Check, { type: "judge" }>, run: RunObservation): CheckResult {
  if (check.type === "maxLatencyMs") {
    const ok = run.durationMs <= check.value;
    return pass(check.type, ok, `took ${run.durationMs} ms, the limit is ${check.value} ms`, `latency ${run.durationMs} ms ${ok ? "within" : "over"} ${check.value}`);
  }
  if (check.type === "maxTokens") {
    const ok = run.totalTokens <= check.value;
    return pass(check.type, ok, `used ${run.totalTokens} tokens, the limit is ${check.value}`, `tokens ${run.totalTokens} ${ok ? "within" : "over"} ${check.value}`);
  }
  if (run.status !== "succeeded") return pass(check.type, false, `the run failed: ${run.error?.code ?? "error"}`, failedRunFeedback(run.error));
  const actual = atPath(run.output, check.path);
  const what = subject(check.path);
  switch (check.type) {
    case "equals": {
      const ok = actual !== undefined && canonicalJson(actual) === canonicalJson(check.value);
      const feedback = ok ? `${what} is ${show(check.value)} as expected` : `expected ${check.path ? `${check.path} ` : ""}${show(check.value)}, got ${show(actual)}`;
      return pass(check.type, ok, `expected ${show(check.value)}, got ${show(actual)}`, feedback);
    }
    case "contains": {
      const found =
        typeof actual === "string"
          ? typeof check.value === "string" && actual.includes(check.value)
          : Array.isArray(actual) && actual.some((item) => canonicalJson(item) === canonicalJson(check.value));
      const feedback = found ? `${what} contains ${show(check.value)} as expected` : `expected ${what} to contain ${show(check.value)}, got ${show(actual)}`;
      return pass(check.type, found, `${show(actual)} does not contain ${show(check.value)}`, feedback);
    }
    case "regex": {
      const text = typeof actual === "string" ? actual : actual === undefined ? undefined : canonicalJson(actual);
      const ok = text !== undefined && new RegExp(check.pattern, check.flags).test(text);
      const pattern = `/${check.pattern}/${check.flags ?? ""}`;
      const feedback = ok ? `${what} matches ${pattern} as expected` : `expected ${what} to match ${pattern}, got ${show(actual)}`;
      return pass(check.type, ok, `${show(actual)} does not match /${check.pattern}/`, feedback);
    }
    case "jsonSchema": {
      const result = validatorFor(check.schema).validate(actual);
      const first = result.errors.find((e) => e.keyword !== "properties" && e.keyword !== "items") ?? result.errors[0];
      const detail = first ? `${first.instanceLocation}: ${first.error}` : "does not match the schema";
      const feedback = result.valid
        ? `${what} matches the JSON schema as expected`
        : `expected ${what} to match the JSON schema ${show(check.schema)}, got ${show(actual)} (${detail})`;
      return pass(check.type, result.valid, detail, feedback);
    }
    case "number": {
      const ok = typeof actual === "number" && Number.isFinite(actual) && Math.abs(actual - check.value) <= check.tolerance;
      const target = check.tolerance ? `${check.value} ± ${check.tolerance}` : `${check.value}`;
      const within = check.tolerance ? `, within ${check.tolerance} of ${check.value}` : "";
      const feedback = ok ? `${what} is ${show(actual)}${within} as expected` : `expected ${check.path ? `${check.path} ` : ""}${target}, got ${show(actual)}`;
      return pass(check.type, ok, `expected ${check.value} ± ${check.tolerance}, got ${show(actual)}`, feedback);
    }
  }
}
