/**
 * Fills an llm agent's prompt: `{{input}}` is the whole input, `{{input.a.b}}` and `{{params.x}}`
 * walk into them. Strings go in as they are, anything else as JSON; a missing value is empty.
 */
export function fillTemplate(template: string, scope: { input: unknown; params: Record<string, unknown> }): string {
  return template.replace(/\{\{\s*(input|params)((?:\.[A-Za-z0-9_$-]+)*)\s*\}\}/g, (_match, root: "input" | "params", path: string) => {
    let value: unknown = scope[root];
    for (const key of path.split(".").slice(1)) {
      if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) return "";
      value = (value as Record<string, unknown>)[key];
    }
    if (value === undefined || value === null) return "";
    return typeof value === "string" ? value : JSON.stringify(value);
  });
}
