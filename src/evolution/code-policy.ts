import { parse } from "acorn";

/**
 * Static policy for evolved code: parsed with a real ES parser (acorn), never pattern-matched.
 * The sandbox offers no modules and no network beyond the spec's hosts, so a child may not import
 * anything, reach for eval / Function (directly or through a `.constructor`), or name a network
 * host its parent was not granted.
 */
export interface CodeViolation {
  rule: "parse" | "import" | "dynamic-code" | "network-host";
  detail: string;
}

const DYNAMIC_CODE = new Set(["eval", "Function", "AsyncFunction", "GeneratorFunction", "AsyncGeneratorFunction", "WebAssembly", "require", "importScripts"]);
const URL_HOST = /\b(?:https?|wss?):\/\/([a-z0-9.-]+(?::\d+)?)/gi;

type Node = { type: string; start: number; [key: string]: unknown };

const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null && typeof (v as Node).type === "string";

function walk(node: Node, visit: (n: Node, parent: Node | undefined) => void, parent?: Node): void {
  visit(node, parent);
  for (const value of Object.values(node)) {
    if (Array.isArray(value)) for (const child of value) isNode(child) && walk(child, visit, node);
    else if (isNode(value)) walk(value, visit, node);
  }
}

/** Whether a host is covered by a permission list entry (`api.x.com`, or `*.x.com` for its subdomains). */
export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  const h = host.toLowerCase();
  return allowed.some((a) => {
    const entry = a.toLowerCase();
    return entry.startsWith("*.") ? h.endsWith(entry.slice(1)) : h === entry || h.split(":")[0] === entry;
  });
}

export function checkCode(code: string, allowedHosts: readonly string[]): CodeViolation[] {
  let program: Node;
  try {
    program = parse(code, { ecmaVersion: "latest", sourceType: "module" }) as unknown as Node;
  } catch (err) {
    return [{ rule: "parse", detail: `the code does not parse: ${(err as Error).message}` }];
  }
  const violations: CodeViolation[] = [];
  const add = (v: CodeViolation) => {
    if (!violations.some((o) => o.rule === v.rule && o.detail === v.detail)) violations.push(v);
  };
  walk(program, (n, parent) => {
    switch (n.type) {
      case "ImportDeclaration":
      case "ExportAllDeclaration":
        add({ rule: "import", detail: `imports ${String((n.source as { value?: unknown }).value)}; the sandbox offers no modules` });
        break;
      case "ExportNamedDeclaration":
        if (n.source) add({ rule: "import", detail: `re-exports ${String((n.source as { value?: unknown }).value)}; the sandbox offers no modules` });
        break;
      case "ImportExpression":
        add({ rule: "import", detail: "uses dynamic import()" });
        break;
      case "MetaProperty":
        if ((n.meta as Node & { name?: string }).name === "import") add({ rule: "import", detail: "uses import.meta" });
        break;
      case "Identifier": {
        const name = n.name as string;
        // A property key such as `{ eval: 1 }` or `x.eval` is a name, not a reference.
        const isPropertyName =
          parent && ((parent.type === "MemberExpression" && parent.property === n && !parent.computed) || (parent.type === "Property" && parent.key === n && !parent.computed));
        if (DYNAMIC_CODE.has(name) && !isPropertyName) add({ rule: "dynamic-code", detail: `references ${name}` });
        break;
      }
      case "MemberExpression": {
        const prop = n.property as Node & { name?: string; value?: unknown };
        const name = n.computed ? prop.value : prop.name;
        if (name === "constructor") add({ rule: "dynamic-code", detail: "reaches .constructor (a path to Function)" });
        if (typeof name === "string" && DYNAMIC_CODE.has(name)) add({ rule: "dynamic-code", detail: `references .${name}` });
        const object = n.object as Node & { name?: string };
        if (n.computed && prop.type !== "Literal" && object.type === "Identifier" && ["globalThis", "self", "window"].includes(object.name ?? "")) {
          add({ rule: "dynamic-code", detail: `indexes ${object.name} with a computed key` });
        }
        break;
      }
      case "Literal":
      case "TemplateElement": {
        const text = n.type === "Literal" ? n.value : (n.value as { cooked?: string }).cooked;
        if (typeof text !== "string") break;
        for (const m of text.matchAll(URL_HOST)) {
          const host = m[1]!;
          if (!hostAllowed(host, allowedHosts)) add({ rule: "network-host", detail: `names host ${host}, which its parent may not reach` });
        }
        break;
      }
    }
  });
  return violations;
}
