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

const pass = (type: Check["type"], passed: boolean, detail?: string): CheckResult => ({ type, passed, score: passed ? 1 : 0, ...(passed || !detail ? {} : { detail }) });

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

/** Applies one deterministic check to a run. Judge checks are scored by `judgeCheck` instead. */
export function applyCheck(check: Exclude<Check, { type: "judge" }>, run: RunObservation): CheckResult {
  if (check.type === "maxLatencyMs") return pass(check.type, run.durationMs <= check.value, `took ${run.durationMs} ms, the limit is ${check.value} ms`);
  if (check.type === "maxTokens") return pass(check.type, run.totalTokens <= check.value, `used ${run.totalTokens} tokens, the limit is ${check.value}`);
  if (run.status !== "succeeded") return pass(check.type, false, `the run failed: ${run.error?.code ?? "error"}`);
  const actual = atPath(run.output, check.path);
  switch (check.type) {
    case "equals":
      return pass(check.type, actual !== undefined && canonicalJson(actual) === canonicalJson(check.value), `expected ${show(check.value)}, got ${show(actual)}`);
    case "contains": {
      const found =
        typeof actual === "string"
          ? typeof check.value === "string" && actual.includes(check.value)
          : Array.isArray(actual) && actual.some((item) => canonicalJson(item) === canonicalJson(check.value));
      return pass(check.type, found, `${show(actual)} does not contain ${show(check.value)}`);
    }
    case "regex": {
      const text = typeof actual === "string" ? actual : actual === undefined ? undefined : canonicalJson(actual);
      return pass(check.type, text !== undefined && new RegExp(check.pattern, check.flags).test(text), `${show(actual)} does not match /${check.pattern}/`);
    }
    case "jsonSchema": {
      const result = validatorFor(check.schema).validate(actual);
      const first = result.errors.find((e) => e.keyword !== "properties" && e.keyword !== "items") ?? result.errors[0];
      return pass(check.type, result.valid, first ? `${first.instanceLocation}: ${first.error}` : "does not match the schema");
    }
    case "number":
      return pass(
        check.type,
        typeof actual === "number" && Number.isFinite(actual) && Math.abs(actual - check.value) <= check.tolerance,
        `expected ${check.value} ± ${check.tolerance}, got ${show(actual)}`,
      );
  }
}
