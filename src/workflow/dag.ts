import { AppError, type FieldError } from "../errors";
import { MAX_STEPS, type Levels, type Workflow } from "./definition";
import { parseRef, templateExpressions } from "./template";

export interface Plan {
  /** levels[i] holds the steps whose longest dependency chain has i steps; a level's steps may run in parallel. */
  levels: Levels;
  /** A topological order (level by level, definition order within a level). */
  order: string[];
  /** Level of each step. */
  levelOf: Record<string, number>;
}

const invalid = (detail: string, step: string | undefined, errors: FieldError[], extra: Record<string, unknown> = {}) =>
  new AppError("workflow_invalid", detail, { ...(step !== undefined ? { step } : {}), errors, ...extra });

/** Finds one cycle among `nodes` (each with at least one unresolved dependency inside `nodes`): [a, b, …, a]. */
function findCycle(nodes: ReadonlySet<string>, deps: ReadonlyMap<string, readonly string[]>, order: ReadonlyMap<string, number>): string[] {
  // Walk dependency edges from any remaining node; every remaining node has a remaining dependency, so the walk must revisit.
  const start = nodes.values().next().value as string;
  const indexOnPath = new Map<string, number>();
  const path: string[] = [];
  let node = start;
  while (!indexOnPath.has(node)) {
    indexOnPath.set(node, path.length);
    path.push(node);
    node = deps.get(node)!.find((d) => nodes.has(d))!;
  }
  // path runs against the arrows (step -> its dependency); report it in execution order,
  // starting from the step defined first so the answer is stable.
  const cycle = path.slice(indexOnPath.get(node)!).reverse();
  const first = cycle.reduce((best, id, i) => (order.get(id)! < order.get(cycle[best]!)! ? i : best), 0);
  const rotated = [...cycle.slice(first), ...cycle.slice(0, first)];
  return [...rotated, rotated[0]!];
}

/**
 * Validates a workflow's graph and plans it. Throws problem `workflow_invalid` naming the step for:
 * more than MAX_STEPS steps, duplicate ids, unknown dependsOn, a cycle (with its path), and a template that
 * references a step that is not upstream (or is not a reference at all).
 */
export function planWorkflow(wf: Workflow): Plan {
  const steps = wf.steps;
  if (steps.length > MAX_STEPS) {
    throw invalid(`A workflow holds at most ${MAX_STEPS} steps; this one has ${steps.length}.`, undefined, [{ path: "steps", message: `at most ${MAX_STEPS} steps` }]);
  }
  const indexOf = new Map<string, number>();
  const errors: FieldError[] = [];
  let firstStep: string | undefined;
  const problem = (step: string, path: string, message: string) => {
    firstStep ??= step;
    errors.push({ path, message });
  };
  steps.forEach((s, i) => {
    if (indexOf.has(s.id)) problem(s.id, `steps.${i}.id`, `duplicate step id ${s.id} (first at steps.${indexOf.get(s.id)})`);
    else indexOf.set(s.id, i);
  });
  steps.forEach((s, i) => {
    s.dependsOn.forEach((d, j) => {
      if (!indexOf.has(d)) problem(s.id, `steps.${i}.dependsOn.${j}`, `step ${s.id} depends on unknown step ${d}`);
    });
  });
  if (errors.length) throw invalid(`Step ${firstStep}: ${errors[0]!.message}.`, firstStep, errors);

  const deps = new Map(steps.map((s) => [s.id, [...new Set(s.dependsOn)]]));
  const dependents = new Map<string, string[]>(steps.map((s) => [s.id, []]));
  for (const [id, ds] of deps) for (const d of ds) dependents.get(d)!.push(id);

  // Kahn's algorithm; a step's level is one more than its deepest dependency's.
  const remaining = new Map(steps.map((s) => [s.id, deps.get(s.id)!.length]));
  const levelOf: Record<string, number> = {};
  let frontier = steps.filter((s) => remaining.get(s.id) === 0).map((s) => s.id);
  for (const id of frontier) levelOf[id] = 0;
  const order: string[] = [];
  while (frontier.length) {
    const next: string[] = [];
    for (const id of frontier) {
      order.push(id);
      for (const child of dependents.get(id)!) {
        levelOf[child] = Math.max(levelOf[child] ?? 0, levelOf[id]! + 1);
        const left = remaining.get(child)! - 1;
        remaining.set(child, left);
        if (left === 0) next.push(child);
      }
    }
    frontier = next;
  }
  if (order.length < steps.length) {
    const stuck = new Set(steps.map((s) => s.id).filter((id) => remaining.get(id)! > 0));
    const cycle = findCycle(stuck, deps, indexOf);
    const at = indexOf.get(cycle[0]!)!;
    throw invalid(`Step ${cycle[0]} is in a dependency cycle: ${cycle.join(" -> ")}.`, cycle[0], [{ path: `steps.${at}.dependsOn`, message: `cycle ${cycle.join(" -> ")}` }], {
      cycle,
    });
  }

  // Templates may only read the run input and steps upstream of the one that uses them.
  const ancestors = new Map<string, Set<string>>();
  for (const id of order) {
    const set = new Set<string>();
    for (const d of deps.get(id)!) {
      set.add(d);
      for (const a of ancestors.get(d)!) set.add(a);
    }
    ancestors.set(id, set);
  }
  steps.forEach((s, i) => {
    const check = (value: unknown, field: string) => {
      for (const expr of templateExpressions(value)) {
        const ref = parseRef(expr);
        if (typeof ref === "string") problem(s.id, `steps.${i}.${field}`, `step ${s.id}: ${ref}`);
        else if (ref.root === "steps" && !ancestors.get(s.id)!.has(ref.step)) {
          const why = ref.step === s.id ? "itself" : indexOf.has(ref.step) ? `step ${ref.step}, which is not upstream (add it to dependsOn)` : `unknown step ${ref.step}`;
          problem(s.id, `steps.${i}.${field}`, `step ${s.id} references ${why}`);
        }
      }
    };
    check(s.input, "input");
    if (typeof s.when === "string") check(s.when, "when");
  });
  if (errors.length) throw invalid(`Step ${firstStep}: ${errors[0]!.message}.`, firstStep, errors);

  const depth = Math.max(...Object.values(levelOf));
  const levels: Levels = Array.from({ length: depth + 1 }, () => []);
  for (const s of steps) levels[levelOf[s.id]!]!.push(s.id);
  return { levels, order: levels.flat(), levelOf };
}
