import type { Plan } from "./dag";
import type { Workflow } from "./definition";
import { isTruthy, render, type TemplateScope } from "./template";

/** The workflow run state machine. Pure: the squad stores the state and applies the decisions. */
export type StepStatus = "pending" | "running" | "completed" | "failed" | "skipped";
export type RunStatus = "running" | "completed" | "failed";

export interface StepState {
  status: StepStatus;
  output?: unknown;
  error?: { code: string; detail: string } | null;
}

export interface RunProgress {
  input: unknown;
  steps: Record<string, StepState>;
}

export interface Decision {
  start: { stepId: string; input: unknown }[];
  skip: { stepId: string; reason: string }[];
  status: RunStatus;
  error?: { code: string; detail: string };
}

const settled = (s: StepStatus) => s === "completed" || s === "failed" || s === "skipped";

/**
 * Decides what happens next. Rules:
 * - a step starts when all its dependencies are settled and none was skipped; its `when` (if any) must render truthy,
 *   else it is skipped; a skipped step skips its dependents;
 * - a step that fails with onError "continue" counts as settled (its output reads as null downstream);
 * - a step that fails with onError "fail" fails the run: nothing new starts, pending steps are skipped,
 *   and the run is failed once running steps have finished.
 */
export function advance(wf: Workflow, plan: Plan, progress: RunProgress): Decision {
  const byId = new Map(wf.steps.map((s) => [s.id, s]));
  const status = new Map(Object.entries(progress.steps).map(([id, s]) => [id, s.status]));
  const fatal = wf.steps.find((s) => s.onError === "fail" && status.get(s.id) === "failed");
  const decision: Decision = { start: [], skip: [], status: "running" };
  const scope: TemplateScope = { input: progress.input, steps: progress.steps };

  for (const id of plan.order) {
    if ((status.get(id) ?? "pending") !== "pending") continue;
    const step = byId.get(id)!;
    let skipReason: string | undefined;
    if (fatal) skipReason = `run failed at step ${fatal.id}`;
    else {
      const deps = step.dependsOn.map((d) => status.get(d) ?? "pending");
      if (!deps.every(settled)) continue;
      const skippedDep = step.dependsOn.find((d) => status.get(d) === "skipped");
      if (skippedDep) skipReason = `upstream step ${skippedDep} was skipped`;
      else if (step.when !== undefined && !isTruthy(typeof step.when === "string" ? render(step.when, scope) : step.when)) skipReason = "when condition is false";
    }
    if (skipReason) {
      decision.skip.push({ stepId: id, reason: skipReason });
      status.set(id, "skipped");
    } else {
      decision.start.push({ stepId: id, input: step.input === undefined ? progress.input : render(step.input, scope) });
      status.set(id, "running");
    }
  }

  if ([...byId.keys()].every((id) => settled(status.get(id) ?? "pending"))) {
    decision.status = fatal ? "failed" : "completed";
    if (fatal) {
      const err = progress.steps[fatal.id]?.error;
      decision.error = { code: "step_failed", detail: `Step ${fatal.id} failed${err ? `: ${err.detail}` : ""}.` };
    }
  }
  return decision;
}
