import { describe, expect, it } from "vitest";
import { AppError } from "../src/errors";
import { planWorkflow } from "../src/workflow/dag";
import { workflowSchema, type Workflow } from "../src/workflow/definition";
import { parseWorkflow, parseYamlDocument } from "../src/workflow/parse";

const wf = (steps: unknown[]): Workflow => workflowSchema.parse({ name: "flow", steps });
const step = (id: string, dependsOn: string[] = [], extra: Record<string, unknown> = {}) => ({ id, capability: "echo", dependsOn, ...extra });

function planError(w: Workflow): AppError {
  try {
    planWorkflow(w);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error("expected the plan to be refused");
}

describe("workflow planning", () => {
  it("puts each step at the length of its longest dependency chain", () => {
    // a -> b -> d, a -> c -> d, plus e depending on a and d: e is level 3, not 1
    const plan = planWorkflow(wf([step("a"), step("b", ["a"]), step("c", ["a"]), step("d", ["b", "c"]), step("e", ["a", "d"]), step("solo")]));
    expect(plan.levels).toEqual([["a", "solo"], ["b", "c"], ["d"], ["e"]]);
    expect(plan.order).toEqual(["a", "solo", "b", "c", "d", "e"]);
  });

  it("names the step for duplicate ids and unknown dependsOn", () => {
    const dup = planError(wf([step("a"), step("b"), step("a")]));
    expect(dup.code).toBe("workflow_invalid");
    expect(dup.extra).toMatchObject({ step: "a", errors: [{ path: "steps.2.id" }] });
    const unknown = planError(wf([step("a"), step("b", ["a", "ghost"])]));
    expect(unknown.extra).toMatchObject({ step: "b", errors: [{ path: "steps.1.dependsOn.1", message: "step b depends on unknown step ghost" }] });
  });

  it("reports a cycle with its path", () => {
    const err = planError(wf([step("start"), step("a", ["start", "c"]), step("b", ["a"]), step("c", ["b"]), step("after", ["c"])]));
    const cycle = err.extra.cycle as string[];
    expect(cycle[0]).toBe(cycle[cycle.length - 1]);
    expect(new Set(cycle)).toEqual(new Set(["a", "b", "c"]));
    // each hop follows a dependency edge in execution order: x -> y means y depends on x
    const deps: Record<string, string[]> = { a: ["start", "c"], b: ["a"], c: ["b"] };
    for (let i = 0; i + 1 < cycle.length; i++) expect(deps[cycle[i + 1]!]).toContain(cycle[i]);
    expect(err.detail).toContain("cycle");
    expect(planError(wf([step("self", ["self"])])).extra.cycle).toEqual(["self", "self"]);
  });

  it("refuses templates that read a step that is not upstream, or no step at all", () => {
    const sibling = planError(wf([step("a"), step("b"), step("c", ["a"], { input: { v: "{{steps.b.output.v}}" } })]));
    expect(sibling.extra).toMatchObject({ step: "c", errors: [{ path: "steps.2.input", message: expect.stringContaining("not upstream") }] });
    const ghost = planError(wf([step("a", [], { when: "{{steps.nope.output}}" })]));
    expect(ghost.extra).toMatchObject({ step: "a", errors: [{ path: "steps.0.when", message: expect.stringContaining("unknown step nope") }] });
    const junk = planError(wf([step("a", [], { input: "{{ env.SECRET }}" })]));
    expect(junk.extra).toMatchObject({ step: "a", errors: [{ message: expect.stringContaining("must start with input or steps") }] });
    // a transitive ancestor is upstream
    expect(() => planWorkflow(wf([step("a"), step("b", ["a"]), step("c", ["b"], { input: "{{steps.a.output}}" })]))).not.toThrow();
  });

  it("refuses more than 1000 steps, and plans a 1000-step DAG quickly", () => {
    const tooMany = planError(wf(Array.from({ length: 1001 }, (_, i) => step(`s${i}`))));
    expect(tooMany.extra).toMatchObject({ errors: [{ path: "steps" }] });
    // a 1000-step chain-of-diamonds with templates reading a far ancestor
    const steps = Array.from({ length: 1000 }, (_, i) =>
      step(`s${i}`, i === 0 ? [] : i % 3 === 0 ? [`s${i - 1}`, `s${i - 2}`] : [`s${i - 1}`], i > 10 ? { input: { from: "{{steps.s0.output}}", x: "{{input.x}}" } } : {}),
    );
    const started = performance.now();
    const plan = planWorkflow(wf(steps));
    const elapsed = performance.now() - started;
    expect(plan.order).toHaveLength(1000);
    expect(plan.levels.flat()).toHaveLength(1000);
    console.log(`planned 1000 steps in ${elapsed.toFixed(1)} ms`);
  });

  it("parses YAML into the same definition as JSON and names bad fields", () => {
    const yaml = `
name: flow
steps:
  - id: fetch
    capability: echo
    input: { q: "{{input.q}}" }
  - id: summarise
    agent: summariser
    dependsOn: [fetch]
    input: "{{steps.fetch.output}}"
    onError: continue
`;
    const parsed = parseWorkflow(parseYamlDocument(yaml));
    expect(planWorkflow(parsed).levels).toEqual([["fetch"], ["summarise"]]);
    expect(parsed.steps[1]).toMatchObject({ agent: "summariser", onError: "continue", dependsOn: ["fetch"] });
    expect(() => parseYamlDocument("steps: [unclosed")).toThrow(/does not parse/);
    expect(() => parseWorkflow(parseYamlDocument("name: flow\nsteps:\n  - id: a\n"))).toThrow(AppError);
  });
});
