import type { Env } from "../env";
import { capDynamicWorkers, perObjectCap, SandboxSlots } from "../runtime/dynamic-workers";
import { alarmRetryDelay, WATCHDOG_MS } from "./alarm-retry";
import type { MemberLoad } from "./balance";
import type { Policy } from "./config";
import { nextTask, type QueuedTask } from "./order";
import type { TaskRow } from "./store";

/** One alarm invocation stops starting new work after this long and hands over to a fresh alarm: started attempts (at most 30 s each in the runtime) still finish inside the 15-minute limit of an alarm. */
export const LOOP_BUDGET_MS = 9 * 60_000;
const WATCHDOG_REFRESH_MS = 20_000;

/** The next queued task to start, if the squad may start one: not paused, within its loop budget, under maxConcurrency. Pure. */
export function nextStart<T extends QueuedTask>(
  heads: readonly T[],
  running: number,
  policy: Pick<Policy, "maxConcurrency" | "agingMs" | "paused">,
  now: number,
  loopAgeMs: number,
): T | undefined {
  if (policy.paused || loopAgeMs >= LOOP_BUDGET_MS || running >= policy.maxConcurrency) return undefined;
  return nextTask(heads, now, policy.agingMs);
}

/** Executions per member: in flight now (load balancing) and started since this instance began (spreads sequential work by weight). */
export class MemberLoads {
  private readonly inFlight = new Map<string, number>();
  private readonly dispatched = new Map<string, number>();

  async around<T>(member: string, work: () => Promise<T>): Promise<T> {
    this.inFlight.set(member, this.running(member) + 1);
    this.dispatched.set(member, (this.dispatched.get(member) ?? 0) + 1);
    try {
      return await work();
    } finally {
      this.inFlight.set(member, (this.inFlight.get(member) ?? 1) - 1);
    }
  }

  running(member: string): number {
    return this.inFlight.get(member) ?? 0;
  }

  of(members: readonly { key: string; weight: number }[]): MemberLoad[] {
    return members.map(({ key, weight }) => ({ key, weight, inFlight: this.running(key), dispatched: this.dispatched.get(key) ?? 0 }));
  }
}

/** What the dispatcher needs from its squad: storage for the alarm, the queue, and the task transitions. */
export interface DispatchHost {
  storage: DurableObjectStorage;
  waitUntil(work: Promise<unknown>): void;
  /** The squad's policy, or null when it is gone (deleted or never configured). */
  policy(): Policy | null;
  queueHeads(now: number): TaskRow[];
  /** Fails queued tasks whose deadline passed. */
  expire(now: number): void;
  start(queued: TaskRow, now: number): TaskRow;
  execute(task: TaskRow): Promise<void>;
  /** Settles a task whose execution threw (a bug, or storage torn down). */
  crashed(task: TaskRow, err: unknown): void;
  /** When queued work (or held run records) next needs the squad, or null. */
  nextWake(): number | null;
}

/**
 * The squad's dispatch loop. The alarm runs it: it keeps up to maxConcurrency tasks executing (awaiting them, so the
 * input gate stays open for submissions and reads), starts the next whenever one settles, and ends when nothing runs.
 * Every run of this object shares one Dynamic Worker cap (DYNAMIC_WORKERS_PER_OBJECT, 10 on Cloudflare): member
 * runs go through `runEnv`, whose Worker Loader admits at most that many distinct sandboxes at once; the rest wait.
 */
export class Dispatcher {
  readonly sandboxes: SandboxSlots;
  /** The environment member runs get: the Worker Loader behind the per-object sandbox cap. */
  readonly runEnv: Env;
  readonly loads = new MemberLoads();
  private readonly active = new Set<string>();
  private looping = false;
  private wakeLoop: (() => void) | null = null;
  /** Consecutive failed alarm runs, for the retry backoff; an eviction starts it over. */
  private alarmFailures = 0;

  constructor(
    env: Env,
    private readonly host: DispatchHost,
  ) {
    this.sandboxes = new SandboxSlots(perObjectCap(env));
    this.runEnv = capDynamicWorkers(env, this.sandboxes);
  }

  async alarm(): Promise<void> {
    // Re-armed before the risky work: whatever it throws, the loop wakes again. Failures are caught and retried
    // on our own backoff, since Cloudflare retries a throwing alarm only 6 times and then drops it.
    await this.host.storage.setAlarm(Date.now() + WATCHDOG_MS);
    try {
      await this.pump();
      this.alarmFailures = 0;
    } catch (err) {
      this.alarmFailures++;
      console.error(JSON.stringify({ at: "squad.alarm", failures: this.alarmFailures, error: String((err as Error)?.message ?? err) }));
      await this.host.storage.setAlarm(Date.now() + alarmRetryDelay(this.alarmFailures));
    }
  }

  /** Starts the loop (via the alarm, which survives eviction) or nudges the one already running. */
  async kick(): Promise<void> {
    if (this.looping) this.wake();
    else await this.host.storage.setAlarm(Date.now());
  }

  /** Brings the alarm forward to `at` unless one is due sooner (never pushes one back). */
  async armBy(at: number): Promise<void> {
    const armed = await this.host.storage.getAlarm();
    if (armed === null || armed > at) await this.host.storage.setAlarm(at);
  }

  private wake(): void {
    const wake = this.wakeLoop;
    this.wakeLoop = null;
    wake?.();
  }

  private async pump(): Promise<void> {
    if (this.looping) return this.wake();
    this.looping = true;
    const began = Date.now();
    let watchdogAt = 0;
    try {
      for (;;) {
        const policy = this.host.policy();
        if (!policy) break;
        const now = Date.now();
        // If this instance dies mid-loop, this alarm restarts the object (whose constructor re-queues cut-off work);
        // the finally below replaces it when the loop ends normally.
        if (now - watchdogAt > WATCHDOG_REFRESH_MS) {
          watchdogAt = now;
          void this.host.storage.setAlarm(now + WATCHDOG_MS);
        }
        this.host.expire(now);
        for (;;) {
          const next = nextStart(this.host.queueHeads(now), this.active.size, policy, now, now - began);
          if (!next) break;
          this.begin(next, now);
        }
        if (this.active.size === 0) break;
        await new Promise<void>((resolve) => (this.wakeLoop = resolve));
      }
    } finally {
      this.wakeLoop = null;
      this.looping = false;
      const wake = this.host.nextWake();
      if (wake === null) await this.host.storage.deleteAlarm();
      else await this.host.storage.setAlarm(Math.max(wake, Date.now()));
    }
  }

  private begin(queued: TaskRow, now: number): void {
    const task = this.host.start(queued, now);
    this.active.add(task.id);
    const work = this.host
      .execute(task)
      .catch((err) => this.host.crashed(task, err))
      .finally(() => {
        this.active.delete(task.id);
        this.wake();
      });
    this.host.waitUntil(work);
  }
}
