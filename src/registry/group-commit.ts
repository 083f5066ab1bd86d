import { extendInvocation } from "../invocation";
import { log } from "../observability/log";

/**
 * Group commit for registry writes. While one write of this isolate is in flight, the writes that arrive
 * wait for it, then go together as one D1 batch: one transaction and one round trip to the primary for
 * the group instead of one each. A write that finds nothing in flight goes at once, so a lone registration
 * waits for nobody; under a burst, each group is what arrived during the previous write.
 *
 * Who writes a group: its first member, from its own request, which is still waiting for its own answer
 * (never a request that has answered). Every member's part is held by waitUntil, so a client that hangs up
 * does not strand the rest. Members hand over SQL and values; the writer prepares them in its own request.
 * A member learns its turn by polling: a continuation woken by another request's promise runs outside its
 * own request, and workerd refuses the D1 calls it makes there. The price of grouping is latency for the
 * members that wait: up to two writes' time (the one in flight, then their own), for one round trip saved
 * per member on the single primary that serialises every write.
 *
 * A batch is one transaction: when it fails nobody's rows stand, and every member then writes its own
 * statements alone, so one member's conflict (a taken name) is that member's answer only. A member that
 * waits longer than `maxWaitMs` writes alone, and a lane busy that long is taken over by the next write.
 * The registry's unique keys make a late second write of the same rows a conflict, which the callers
 * already answer as "already registered", never a second row.
 */
/** One SQL statement with its values, prepared only by the request that sends it. */
export interface Statement {
  sql: string;
  params: (string | number | null)[];
}

export interface GroupCommitLimits {
  /** Most statements in one group's batch (the leader's invocation runs them all: D1 counts queries per invocation). */
  maxStatements: number;
  /** Longest a member waits for its group before it writes alone. */
  maxWaitMs: number;
}

type Turn = "written" | "lead" | "alone";

/** A waiting member first looks for its turn after 1 ms, then twice as long each time, up to this. */
const MAX_POLL_MS = 8;

interface Member {
  statements: Statement[];
  /** Set by the member that writes or hands over; read by the member's own polling. */
  turn?: Turn;
}

interface Lane {
  /** When the write in flight started, or undefined when none is. */
  busySince: number | undefined;
  waiting: Member[];
}

export class GroupCommit {
  private readonly lanes = new WeakMap<D1Database, Lane>();

  constructor(private readonly limits: GroupCommitLimits) {}

  /** Commits `statements` as one transaction, possibly in one batch with other writes of this isolate; throws what a batch of them alone would. */
  commit(d1: D1Database, statements: Statement[]): Promise<void> {
    const done = this.commitInGroup(d1, statements);
    // Keeps a member's request alive until its part is done, even if its client has gone; its caller sees any failure.
    extendInvocation(done.catch(() => undefined));
    return done;
  }

  private async commitInGroup(d1: D1Database, statements: Statement[]): Promise<void> {
    const lane = this.laneOf(d1);
    const now = Date.now();
    if (lane.busySince === undefined || now - lane.busySince > this.limits.maxWaitMs) {
      // Nothing in flight (or the write in flight is long overdue: its writer is gone): lead a group now.
      lane.busySince = now;
      return this.lead(d1, lane, { statements });
    }
    const member: Member = { statements };
    const turn = await this.wait(lane, member);
    if (turn === "written") return;
    if (turn === "lead") return this.lead(d1, lane, member);
    await send(d1, statements);
  }

  private laneOf(d1: D1Database): Lane {
    let lane = this.lanes.get(d1);
    if (!lane) {
      lane = { busySince: undefined, waiting: [] };
      this.lanes.set(d1, lane);
    }
    return lane;
  }

  /**
   * Polls for the member's turn instead of awaiting a promise the leader resolves: a continuation woken from
   * another request runs without its own request's context, and workerd then refuses its D1 calls.
   */
  private async wait(lane: Lane, member: Member): Promise<Turn> {
    lane.waiting.push(member);
    const deadline = Date.now() + this.limits.maxWaitMs;
    // Locally a write takes a few ms; on Cloudflare a round trip to the primary can take 100 ms or more.
    let pollMs = 1;
    while (member.turn === undefined) {
      if (Date.now() > deadline) {
        // Still queued: leave the queue. Already taken into a group that has not answered: write alone anyway.
        const queued = lane.waiting.indexOf(member);
        if (queued >= 0) lane.waiting.splice(queued, 1);
        return "alone";
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
    }
    return member.turn;
  }

  /** Writes `first` with the members waiting behind it, answers them, and hands the lane to the next in line. */
  private async lead(d1: D1Database, lane: Lane, first: Member): Promise<void> {
    const group = [first];
    let count = first.statements.length;
    while (lane.waiting.length && count + lane.waiting[0]!.statements.length <= this.limits.maxStatements) {
      const next = lane.waiting.shift()!;
      group.push(next);
      count += next.statements.length;
    }
    let failure: unknown;
    try {
      await send(
        d1,
        group.flatMap((m) => m.statements),
      );
    } catch (error) {
      failure = error;
    }
    const alone = failure !== undefined && group.length > 1;
    if (alone) log.info("registry.group_commit_split", { members: group.length, error: failure });
    for (const m of group.slice(1)) m.turn = alone ? "alone" : "written";
    this.handOver(lane);
    if (alone) await send(d1, first.statements);
    else if (failure !== undefined) throw failure;
  }

  private handOver(lane: Lane): void {
    const next = lane.waiting.shift();
    if (!next) {
      lane.busySince = undefined;
      return;
    }
    lane.busySince = Date.now();
    next.turn = "lead";
  }
}

/** One batch: one transaction, one round trip. */
const send = (d1: D1Database, statements: Statement[]) => d1.batch(statements.map((s) => d1.prepare(s.sql).bind(...s.params)));

/** The registry's group commit: 24 statements keeps a leader's invocation well inside D1's 50 queries on the Free plan. */
export const registryCommits = new GroupCommit({ maxStatements: 24, maxWaitMs: 5_000 });
