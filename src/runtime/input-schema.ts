import { Validator, type Schema } from "@cfworker/json-schema";
import type { FieldError } from "../errors";

/** Compiled validators by schema text: specs are immutable, so each schema compiles once per isolate. */
const cache = new Map<string, Validator>();
const MAX_CACHED = 500;

/** Checks a run's input against the spec's optional JSON Schema (draft 2020-12), answering field errors. */
export function checkInput(schema: Record<string, unknown> | undefined, input: unknown): FieldError[] {
  if (!schema) return [];
  const key = JSON.stringify(schema);
  let validator = cache.get(key);
  if (!validator) {
    validator = new Validator(schema as Schema, "2020-12", false);
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    cache.set(key, validator);
  }
  const result = validator.validate(input);
  if (result.valid) return [];
  // The validator reports each failure and the chain of keywords above it; the leaves say the most.
  const leaves = result.errors.filter(
    (e, i, all) => !all.some((o, j) => j !== i && o.instanceLocation.startsWith(e.instanceLocation) && o.instanceLocation !== e.instanceLocation),
  );
  return (leaves.length ? leaves : result.errors).slice(0, 20).map((e) => ({
    path: `input${e.instanceLocation.slice(1).replaceAll("/", ".")}`,
    message: e.error,
  }));
}
