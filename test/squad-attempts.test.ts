import { describe, expect, it } from "vitest";
import { attempt, type AttemptDeps, type AttemptTask, type MemberOutcome } from "../src/squad/attempts";
import { retryDelayMs } from "../src/squad/failover";

/** A squad without bindings: members answer from a script, and every effect is written down. */
function fakeSquad(script: Record<string, (call: number) => MemberOutcome | Promise<MemberOutcome>>, opts: { open?: string[]; supersedeAfter?: number } = {}) {
  const calls: string[] = [];
  const claims: { attempts: number; tried: string[]; member?: string }[] = [];
  const observed: [string, boolean][] = [];
  const failovers: { attempt: number; reason: string; from: string | null; to: string }[] = [];
  const perMember = new Map<string, number>();
  const deps: AttemptDeps = {
    capable: Object.keys(script),
    loads: () =>
      Object.keys(script)
        .filter((k) => !opts.open?.includes(k))
        .map((key) => ({ key, weight: 1, inFlight: 0, dispatched: 0 })),
    run: async (member) => {
      calls.push(member);
      const n = (perMember.get(member) ?? 0) + 1;
      perMember.set(member, n);
      return script[member]!(n);
    },
    claim: (p) => {
      claims.push(p);
      return opts.supersedeAfter === undefined || claims.length <= opts.supersedeAfter;
    },
    observed: (member, ok) => void observed.push([member, ok]),
    failover: (e) => void failovers.push(e),
    now: () => 1_000,
  };
  return { deps, calls, claims, observed, failovers };
}

const task = (extra: Partial<AttemptTask> = {}): AttemptTask => ({ id: "tsk_1", attempts: 0, tried: [], round: 0, retries: 0, deadline: null, consensus: null, ...extra });
const ok = (output: unknown): MemberOutcome => ({ ok: true, output, durationMs: 1 });
const fail = (code = "agent_failed"): MemberOutcome => ({ ok: false, error: { code, detail: code }, durationMs: 1 });

describe("single-member attempts (pure, member run injected)", () => {
  it("fails over in member order to the next untried member and finishes with its answer", async () => {
    const squad = fakeSquad({ a: () => fail(), b: () => fail("agent_timeout"), c: () => ok("from c") });
    const end = await attempt(task(), squad.deps);
    expect(end).toEqual({ kind: "finish", output: "from c", attempts: 3, member: "c" });
    expect(squad.calls).toEqual(["a", "b", "c"]);
    expect(squad.failovers).toEqual([
      { attempt: 2, reason: "agent_failed", from: "a", to: "b" },
      { attempt: 3, reason: "agent_timeout", from: "b", to: "c" },
    ]);
    expect(squad.observed).toEqual([
      ["a", false],
      ["b", false],
      ["c", true],
    ]);
    // Each attempt is stored before it runs, with every member tried so far.
    expect(squad.claims).toEqual([
      { attempts: 1, member: "a", tried: ["a"] },
      { attempts: 2, member: "b", tried: ["a", "b"] },
      { attempts: 3, member: "c", tried: ["a", "b", "c"] },
    ]);
  });

  it("skips members tried earlier in this round and members whose breaker is open", async () => {
    const squad = fakeSquad({ a: () => ok("a"), b: () => ok("b"), c: () => ok("c") }, { open: ["b"] });
    expect(await attempt(task({ tried: ["a"], attempts: 1 }), squad.deps)).toEqual({ kind: "finish", output: "c", attempts: 2, member: "c" });
    expect(squad.calls).toEqual(["c"]);
  });

  it("once every member failed, asks for a new round with backoff while retries remain, then fails with the last error", async () => {
    const squad = fakeSquad({ a: () => fail("first"), b: () => fail("last") });
    expect(await attempt(task({ retries: 1 }), squad.deps)).toEqual({ kind: "requeue", attempts: 2, error: { code: "last", detail: "last" }, delayMs: retryDelayMs(0) });
    const lastRound = fakeSquad({ a: () => fail("first"), b: () => fail("last") });
    expect(await attempt(task({ retries: 1, round: 1, attempts: 2 }), lastRound.deps)).toEqual({ kind: "finish", error: { code: "last", detail: "last" }, attempts: 4 });
  });

  it("does not ask for a round the deadline cannot fit", async () => {
    const squad = fakeSquad({ a: () => fail() });
    expect(await attempt(task({ retries: 3, deadline: 1_100 }), squad.deps)).toMatchObject({ kind: "finish", error: { code: "agent_failed" } });
  });

  it("answers circuit_open without running anyone when every breaker is open", async () => {
    const squad = fakeSquad({ a: () => ok(1) }, { open: ["a"] });
    expect(await attempt(task(), squad.deps)).toMatchObject({ kind: "finish", error: { code: "circuit_open" }, attempts: 0 });
    expect(squad.calls).toEqual([]);
  });

  it("records nothing more once superseded (a restart started another epoch)", async () => {
    const squad = fakeSquad({ a: () => fail(), b: () => ok("b") }, { supersedeAfter: 1 });
    expect(await attempt(task(), squad.deps)).toEqual({ kind: "superseded" });
    expect(squad.calls).toEqual(["a"]);
  });
});

describe("consensus attempts (pure, member run injected)", () => {
  const vote = (n: number, strategy: "majority" | "unanimous" | "first") => task({ consensus: { n, strategy } });

  it("majority: agreeing members decide; every answer and the agreement are kept", async () => {
    const squad = fakeSquad({ a: () => ok({ v: 1 }), b: () => ok({ v: 2 }), c: () => ok({ v: 1 }) });
    const end = await attempt(vote(3, "majority"), squad.deps);
    expect(end).toMatchObject({ kind: "finish", output: { v: 1 }, attempts: 3, member: "a", agreement: 2 / 3 });
    expect(end.kind === "finish" && end.answers?.map((a) => a.member).sort()).toEqual(["a", "b", "c"]);
    expect(squad.calls.sort()).toEqual(["a", "b", "c"]);
  });

  it("unanimous: one dissent fails with no_consensus and keeps the answers", async () => {
    const squad = fakeSquad({ a: () => ok("x"), b: () => ok("y") });
    expect(await attempt(vote(2, "unanimous"), squad.deps)).toMatchObject({
      kind: "finish",
      error: { code: "no_consensus" },
      attempts: 2,
      agreement: 0.5,
      answers: expect.any(Array),
    });
  });

  it("replaces a failing member with an unused capable one, and the replacement's answer counts", async () => {
    const squad = fakeSquad({ a: () => fail(), b: () => ok("y"), c: () => ok("y") });
    const end = await attempt(vote(2, "unanimous"), squad.deps);
    expect(end).toMatchObject({ kind: "finish", output: "y", attempts: 3, agreement: 1 });
    expect(squad.failovers).toEqual([{ attempt: 3, reason: "agent_failed", from: "a", to: "c" }]);
  });

  it("too few answers: a new round while retries remain, else no_consensus", async () => {
    const flaky = () => fakeSquad({ a: () => ok("x"), b: () => fail() });
    expect(await attempt(task({ consensus: { n: 2, strategy: "unanimous" }, retries: 1 }), flaky().deps)).toMatchObject({
      kind: "requeue",
      attempts: 2,
      error: { code: "no_consensus" },
    });
    expect(await attempt(vote(2, "unanimous"), flaky().deps)).toMatchObject({ kind: "finish", error: { code: "no_consensus" } });
  });

  it("refuses when fewer members are capable than n, and retries later when breakers leave too few", async () => {
    expect(await attempt(vote(3, "majority"), fakeSquad({ a: () => ok(1), b: () => ok(1) }).deps)).toMatchObject({ kind: "finish", error: { code: "insufficient_members" } });
    const open = fakeSquad({ a: () => ok(1), b: () => ok(1) }, { open: ["b"] });
    expect(await attempt(task({ consensus: { n: 2, strategy: "majority" }, retries: 1 }), open.deps)).toMatchObject({ kind: "requeue", error: { code: "circuit_open" } });
    expect(open.calls).toEqual([]);
  });

  it("a member run that rejects is not caught here: the squad's run never throws, so a throw is a bug that fails the task upstream", async () => {
    const squad = fakeSquad({ a: () => Promise.reject(new Error("bug")), b: () => ok(1) });
    await expect(attempt(task(), squad.deps)).rejects.toThrow("bug");
  });

  it("first: the earliest success wins, even if later members disagree", async () => {
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const squad = fakeSquad({
      a: async () => (await slow, ok("late")),
      b: () => {
        setTimeout(release, 0);
        return ok("early");
      },
    });
    expect(await attempt(vote(2, "first"), squad.deps)).toMatchObject({ kind: "finish", output: "early", member: "b", agreement: 0.5 });
  });

  it("stops recording when superseded part-way", async () => {
    const squad = fakeSquad({ a: () => ok(1), b: () => ok(1), c: () => ok(1) }, { supersedeAfter: 1 });
    expect(await attempt(vote(3, "majority"), squad.deps)).toEqual({ kind: "superseded" });
  });
});
