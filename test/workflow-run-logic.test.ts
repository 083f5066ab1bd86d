import { describe, expect, it } from "vitest";
import { planWorkflow } from "../src/workflow/dag";
import { workflowSchema } from "../src/workflow/definition";
import { advance, type RunProgress } from "../src/workflow/executor";
import { render } from "../src/workflow/template";

describe("templates", () => {
  const scope = { input: { x: 3, name: "ada", list: [10, 20] }, steps: { a: { status: "completed", output: { v: { deep: true }, n: null } } } };
  it("an exact template keeps the referenced type; an embedded one interpolates text", () => {
    expect(render("{{input.x}}", scope)).toBe(3);
    expect(render("{{ steps.a.output.v }}", scope)).toEqual({ deep: true });
    expect(render("n={{input.x}} v={{steps.a.output.v}} missing=[{{input.nope}}]", scope)).toBe('n=3 v={"deep":true} missing=[]');
    expect(render({ deep: ["{{input.list.1}}", "hi {{input.name}}"], keep: 5 }, scope)).toEqual({ deep: [20, "hi ada"], keep: 5 });
    expect(render("{{input.nope}}", scope)).toBeNull();
    expect(render("{{steps.a.status}}", scope)).toBe("completed");
  });
});

describe("run state machine", () => {
  const wf = workflowSchema.parse({
    name: "diamond",
    steps: [
      { id: "a", capability: "echo", input: { x: "{{input.x}}" } },
      { id: "b", capability: "echo", dependsOn: ["a"], input: "{{steps.a.output.x}}" },
      { id: "c", capability: "echo", dependsOn: ["a"], when: "{{input.flag}}" },
      { id: "d", capability: "echo", dependsOn: ["b", "c"] },
      { id: "e", capability: "echo", dependsOn: ["b"], onError: "continue" },
    ],
  });
  const plan = planWorkflow(wf);
  const progress = (input: unknown, steps: RunProgress["steps"]): RunProgress => ({ input, steps });

  it("starts roots with rendered input, then dependents once their dependencies settle", () => {
    const first = advance(
      wf,
      plan,
      progress({ x: 7, flag: true }, { a: { status: "pending" }, b: { status: "pending" }, c: { status: "pending" }, d: { status: "pending" }, e: { status: "pending" } }),
    );
    expect(first).toEqual({ start: [{ stepId: "a", input: { x: 7 } }], skip: [], status: "running" });
    const second = advance(
      wf,
      plan,
      progress(
        { x: 7, flag: true },
        { a: { status: "completed", output: { x: 7 } }, b: { status: "pending" }, c: { status: "pending" }, d: { status: "pending" }, e: { status: "pending" } },
      ),
    );
    expect(second.start).toEqual([
      { stepId: "b", input: 7 },
      { stepId: "c", input: { x: 7, flag: true } },
    ]);
  });

  it("skips a step whose when is false, and its dependents", () => {
    const d = advance(
      wf,
      plan,
      progress(
        { x: 1, flag: false },
        { a: { status: "completed", output: { x: 1 } }, b: { status: "pending" }, c: { status: "pending" }, d: { status: "pending" }, e: { status: "pending" } },
      ),
    );
    expect(d.skip).toEqual([{ stepId: "c", reason: "when condition is false" }]);
    const later = advance(
      wf,
      plan,
      progress({ x: 1, flag: false }, { a: { status: "completed" }, b: { status: "completed" }, c: { status: "skipped" }, d: { status: "pending" }, e: { status: "completed" } }),
    );
    expect(later).toEqual({ start: [], skip: [{ stepId: "d", reason: "upstream step c was skipped" }], status: "completed" });
  });

  it("onError continue keeps the run going; onError fail stops new work and fails the run", () => {
    const cont = advance(
      wf,
      plan,
      progress(
        {},
        {
          a: { status: "completed" },
          b: { status: "completed" },
          c: { status: "completed" },
          d: { status: "completed" },
          e: { status: "failed", error: { code: "x", detail: "boom" } },
        },
      ),
    );
    expect(cont.status).toBe("completed");
    const stillRunning = advance(
      wf,
      plan,
      progress(
        {},
        {
          a: { status: "completed" },
          b: { status: "failed", error: { code: "agent_failed", detail: "boom" } },
          c: { status: "running" },
          d: { status: "pending" },
          e: { status: "pending" },
        },
      ),
    );
    expect(stillRunning).toEqual({
      start: [],
      skip: [
        { stepId: "d", reason: "run failed at step b" },
        { stepId: "e", reason: "run failed at step b" },
      ],
      status: "running",
    });
    const done = advance(
      wf,
      plan,
      progress(
        {},
        {
          a: { status: "completed" },
          b: { status: "failed", error: { code: "agent_failed", detail: "boom" } },
          c: { status: "completed" },
          d: { status: "skipped" },
          e: { status: "skipped" },
        },
      ),
    );
    expect(done).toMatchObject({ status: "failed", error: { code: "step_failed", detail: "Step b failed: boom." } });
  });
});
