import { parse, type Node } from "acorn";

/**
 * Rewrites an agent module so every loop iteration, function entry and catch/finally entry calls
 * `tickName()`. Local workerd enforces no CPU limit on Dynamic Workers and runs them on the host's
 * thread, so a `while (true) {}` would wedge the whole runtime; the tick lets the sandbox's own
 * guard throw once the run's deadline passes. Workers forbid eval/new Function, so the parsed
 * module text is all the code that can ever run in the sandbox.
 */
export interface Instrumented {
  code: string;
  ticks: number;
}

interface Insert {
  pos: number;
  text: string;
  close: boolean;
  order: number;
}

type AnyNode = Node & Record<string, unknown>;

const LOOPS = new Set(["ForStatement", "ForInStatement", "ForOfStatement", "WhileStatement", "DoWhileStatement"]);
const FUNCTIONS = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);

export class AgentSyntaxError extends Error {
  override readonly name = "AgentSyntaxError";
}

export function instrumentModule(source: string, tickName: string, importFrom: string): Instrumented {
  let ast: Node;
  try {
    ast = parse(source, { ecmaVersion: "latest", sourceType: "module" });
  } catch (err) {
    throw new AgentSyntaxError(`The agent module does not parse: ${(err as Error).message}`);
  }
  const inserts: Insert[] = [];
  let order = 0;
  const call = `${tickName}();`;
  const open = (pos: number, text: string) => inserts.push({ pos, text, close: false, order: order++ });
  const close = (pos: number, text: string) => inserts.push({ pos, text, close: true, order: order++ });
  const intoBlock = (block: AnyNode) => open(block.start + 1, call);

  const visit = (node: AnyNode) => {
    if (LOOPS.has(node.type)) {
      const body = node.body as AnyNode;
      if (body.type === "BlockStatement") intoBlock(body);
      else {
        open(body.start, `{${call}`);
        close(body.end, "}");
      }
    } else if (FUNCTIONS.has(node.type)) {
      const body = node.body as AnyNode;
      if (body.type === "BlockStatement") intoBlock(body);
      else {
        open(body.start, `(${tickName}(),`);
        close(body.end, ")");
      }
    } else if (node.type === "CatchClause") {
      intoBlock(node.body as AnyNode);
    } else if (node.type === "TryStatement" && node.finalizer) {
      intoBlock(node.finalizer as AnyNode);
    }
    for (const key of Object.keys(node)) {
      const value = node[key];
      if (Array.isArray(value)) for (const child of value) visitMaybe(child);
      else visitMaybe(value);
    }
  };
  const visitMaybe = (value: unknown) => {
    if (value && typeof value === "object" && typeof (value as AnyNode).type === "string") visit(value as AnyNode);
  };
  visit(ast as AnyNode);

  // Same position: closers before openers; inner closers (visited later) before outer ones.
  inserts.sort((a, b) => a.pos - b.pos || (a.close === b.close ? (a.close ? b.order - a.order : a.order - b.order) : a.close ? -1 : 1));
  let out = "";
  let last = 0;
  for (const ins of inserts) {
    out += source.slice(last, ins.pos) + ins.text;
    last = ins.pos;
  }
  out += source.slice(last);
  const ticks = inserts.filter((i) => !i.close).length;
  return { code: `import { tick as ${tickName} } from ${JSON.stringify(importFrom)};\n${out}`, ticks };
}
