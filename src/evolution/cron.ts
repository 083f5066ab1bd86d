import { reviewCanaries } from "../deploy/promote";
import type { Env } from "../env";
import { startScheduledRuns } from "./run";

/**
 * The scheduled handler's evolution work for one cron tick: judge open canaries on their live
 * results, then start this slot's run for each evolvable agent (once per agent and slot, however
 * many times the tick is delivered: the Workflow instance id is derived from both). Runs resume
 * and retry on the Workflows engine; the cron no longer re-drives them.
 */
export async function evolutionCron(env: Env, scheduledTime: number) {
  const canaries = await reviewCanaries(env);
  const runs = await startScheduledRuns(env, scheduledTime);
  console.log(JSON.stringify({ at: "evolution.cron", scheduledTime: new Date(scheduledTime).toISOString(), ...runs, canaries }));
  return { canaries, ...runs };
}
