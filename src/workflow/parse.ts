import { parse as parseYaml, YAMLParseError } from "yaml";
import { AppError } from "../errors";
import { jsonDepth, jsonTooDeep, MAX_JSON_DEPTH } from "../registry/canonical";
import { workflowSchema, type Workflow } from "./definition";

export const YAML_TYPES = ["application/yaml", "text/yaml", "application/x-yaml"];

export const isYamlContentType = (contentType: string | undefined) => YAML_TYPES.includes((contentType ?? "").split(";")[0]!.trim().toLowerCase());

/**
 * An upper bound on how deep a YAML text nests inline: flow brackets ([ and {) and runs of compact
 * sequence entries ("- - - x"). The YAML parser recurses, so hostile nesting is refused before it runs;
 * brackets inside quoted strings count too, which only a string of 64 unclosed brackets could notice.
 */
function inlineNesting(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (const ch of text) {
    if (ch === "[" || ch === "{") deepest = Math.max(deepest, ++depth);
    else if ((ch === "]" || ch === "}") && depth > 0) depth--;
  }
  for (const m of text.matchAll(/^[ \t]*((?:-[ \t]+)+)/gm)) deepest = Math.max(deepest, m[1]!.split("-").length - 1);
  return deepest;
}

/** Parses a YAML document into plain JSON data (no custom tags, no aliases bombs, at most MAX_JSON_DEPTH deep). */
export function parseYamlDocument(text: string): unknown {
  if (inlineNesting(text) > MAX_JSON_DEPTH) throw jsonTooDeep();
  try {
    const data: unknown = parseYaml(text, { maxAliasCount: 100, schema: "core", prettyErrors: true });
    if (jsonDepth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw jsonTooDeep();
    return data;
  } catch (err) {
    if (err instanceof RangeError || (err instanceof YAMLParseError && /call stack/i.test(err.message))) throw jsonTooDeep();
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      throw new AppError("bad_request", `The YAML body does not parse${pos ? ` (line ${pos.line}, column ${pos.col})` : ""}: ${err.message.split("\n")[0]}`, {
        type: "/problems/malformed-yaml",
      });
    }
    throw err;
  }
}

/** Validates parsed data as a workflow with the same schema the JSON route uses; errors name the field. */
export function parseWorkflow(data: unknown): Workflow {
  if (jsonDepth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw jsonTooDeep();
  const result = workflowSchema.safeParse(data);
  if (result.success) return result.data;
  const errors = result.error.issues.map((i) => ({ path: i.path.map(String).join(".") || "(root)", message: i.message }));
  throw new AppError("validation_failed", `Invalid workflow: ${errors[0]!.path}: ${errors[0]!.message}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ""}`, {
    errors,
  });
}

export type { Workflow };
