import { reviewCanaries } from "../deploy/promote";
import type { Env } from "../env";
import { resumeStalledRuns, startScheduledRuns } from "./run";

/**
 * The scheduled handler's evolution work for one cron tick: judge open canaries on their live
 * results, start this slot's run for each evolvable agent (once per agent and slot, however many
 * times the tick is delivered), and re-drive runs whose last message went missing.
 */
export async function evolutionCron(env: Env, scheduledTime: number) {
  const canaries = await reviewCanaries(env);
  const runs = await startScheduledRuns(env, scheduledTime);
  const resumed = await resumeStalledRuns(env);
  console.log(JSON.stringify({ at: "evolution.cron", scheduledTime: new Date(scheduledTime).toISOString(), ...runs, canaries, resumed }));
  return { canaries, ...runs, resumed };
}
