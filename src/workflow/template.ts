import { jsonTooDeep, MAX_JSON_DEPTH } from "../registry/canonical";

/**
 * Templates in step inputs: `{{input.x}}`, `{{steps.a.output.v}}`, `{{steps.a.status}}`.
 * A string that is exactly one template keeps the referenced value's type; a template inside
 * a longer string is interpolated as text (strings as-is, other values as JSON, missing as "").
 */
const TEMPLATE = /\{\{\s*([^{}]*?)\s*\}\}/g;
const EXACT = /^\{\{\s*([^{}]*?)\s*\}\}$/;
const SEGMENT = /^[A-Za-z0-9_-]+$/;

export type TemplateRef = { root: "input"; path: string[] } | { root: "steps"; step: string; field: "output" | "status" | "error"; path: string[] };

/** Parses one expression; returns an error message when it is not a reference we understand. */
export function parseRef(expr: string): TemplateRef | string {
  const parts = expr.split(".");
  if (parts.some((p) => !SEGMENT.test(p))) return `"{{${expr}}}" is not a dotted path such as input.x or steps.a.output.v`;
  const [root, ...rest] = parts;
  if (root === "input") return { root: "input", path: rest };
  if (root === "steps") {
    const [step, field, ...path] = rest;
    if (!step || (field !== "output" && field !== "status" && field !== "error")) return `"{{${expr}}}" must be steps.<id>.output, steps.<id>.status or steps.<id>.error`;
    if (field !== "output" && path.length) return `"{{${expr}}}": only steps.<id>.output has fields`;
    return { root: "steps", step, field, path };
  }
  return `"{{${expr}}}" must start with input or steps`;
}

/** Every template expression in a JSON value (strings inside objects and arrays, and keys are left alone); an explicit stack, so any depth is safe. */
export function templateExpressions(value: unknown, out: string[] = []): string[] {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === "string") for (const m of v.matchAll(TEMPLATE)) out.push(m[1]!);
    else if (v && typeof v === "object") {
      const children = Array.isArray(v) ? v : Object.values(v);
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
    }
  }
  return out;
}

export interface TemplateScope {
  input: unknown;
  steps: Record<string, { output?: unknown; status: string; error?: unknown }>;
}

function walk(value: unknown, path: string[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = Array.isArray(v) ? (/^\d+$/.test(key) ? v[Number(key)] : undefined) : (v as Record<string, unknown>)[key];
  }
  return v;
}

export function resolveRef(ref: TemplateRef, scope: TemplateScope): unknown {
  if (ref.root === "input") return walk(scope.input, ref.path);
  const step = scope.steps[ref.step];
  if (!step) return undefined;
  if (ref.field === "output") return walk(step.output, ref.path);
  return step[ref.field];
}

function resolveExpr(expr: string, scope: TemplateScope): unknown {
  const ref = parseRef(expr);
  return typeof ref === "string" ? undefined : resolveRef(ref, scope);
}

const asText = (v: unknown) => (v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v));

/** Renders a step's input. Definitions are checked to nest at most MAX_JSON_DEPTH deep when stored; deeper is refused, not overflowed. */
export function render(value: unknown, scope: TemplateScope, depth = 0): unknown {
  if (typeof value === "string") {
    const exact = EXACT.exec(value);
    if (exact) return resolveExpr(exact[1]!, scope) ?? null;
    return value.replace(TEMPLATE, (_, expr: string) => asText(resolveExpr(expr, scope)));
  }
  if (value && typeof value === "object" && depth >= MAX_JSON_DEPTH) throw jsonTooDeep();
  if (Array.isArray(value)) return value.map((v) => render(v, scope, depth + 1));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, scope, depth + 1)]));
  return value;
}

/** `when` conditions: the rendered value decides; false, null, 0, "" and "false" mean skip. */
export function isTruthy(v: unknown): boolean {
  return !(v === false || v === null || v === undefined || v === 0 || v === "" || v === "false");
}
