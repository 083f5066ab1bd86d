import { parse as parseYaml, YAMLParseError } from "yaml";
import { AppError } from "../errors";
import { workflowSchema, type Workflow } from "./definition";

export const YAML_TYPES = ["application/yaml", "text/yaml", "application/x-yaml"];

export const isYamlContentType = (contentType: string | undefined) => YAML_TYPES.includes((contentType ?? "").split(";")[0]!.trim().toLowerCase());

/** Parses a YAML document into plain JSON data (no custom tags, no aliases bombs). */
export function parseYamlDocument(text: string): unknown {
  try {
    return parseYaml(text, { maxAliasCount: 100, schema: "core", prettyErrors: true });
  } catch (err) {
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
  const result = workflowSchema.safeParse(data);
  if (result.success) return result.data;
  const errors = result.error.issues.map((i) => ({ path: i.path.map(String).join(".") || "(root)", message: i.message }));
  throw new AppError("validation_failed", `Invalid workflow: ${errors[0]!.path}: ${errors[0]!.message}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ""}`, {
    errors,
  });
}

export type { Workflow };
