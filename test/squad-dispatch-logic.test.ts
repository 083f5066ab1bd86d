import { describe, expect, it } from "vitest";
import { pickMember, pickMembers, type MemberLoad } from "../src/squad/balance";
import { breakerAllows, closedBreaker, recordOutcome } from "../src/squad/breaker";
import { aggregate, type MemberAnswer } from "../src/squad/consensus";
import { afterFailure, retryDelayMs } from "../src/squad/failover";

const load = (key: string, inFlight = 0, weight = 1, dispatched = 0): MemberLoad => ({ key, inFlight, weight, dispatched });

describe("load balancing (pure)", () => {
  it("picks the member with the least in flight relative to its weight", () => {
    expect(pickMember([load("a", 2), load("b", 1), load("c", 3)])?.key).toBe("b");
    // b carries weight 4: 3 in flight is 0.75 per unit against a's 1
    expect(pickMember([load("a", 1, 1), load("b", 3, 4)])?.key).toBe("b");
  });

  it("spreads sequential work by weight and skips excluded members", () => {
    const members = [load("a", 0, 1), load("b", 0, 3)];
    const counts: Record<string, number> = { a: 0, b: 0 };
    for (let i = 0; i < 40; i++) {
      const m = pickMember(members)!;
      m.dispatched++;
      counts[m.key]!++;
    }
    expect(counts).toEqual({ a: 10, b: 30 });
    expect(pickMember(members, new Set(["b"]))?.key).toBe("a");
    expect(pickMember(members, new Set(["a", "b"]))).toBeUndefined();
  });

  it("picks n distinct members for consensus", () => {
    const picked = pickMembers([load("a", 5), load("b", 0), load("c", 1), load("d", 2)], 3);
    expect(picked.map((m) => m.key)).toEqual(["b", "c", "d"]);
    expect(pickMembers([load("a")], 3)).toHaveLength(1);
  });
});

describe("failover and retries (pure)", () => {
  const base = { round: 0, retries: 1, now: 1000, deadline: null };
  it("fails over to an untried capable member first", () => {
    expect(afterFailure({ ...base, candidates: [load("a"), load("b")], tried: new Set(["a"]) })).toEqual({ action: "failover", member: "b" });
  });
  it("starts a new round with backoff once every member was tried, then gives up", () => {
    expect(afterFailure({ ...base, candidates: [load("a")], tried: new Set(["a"]) })).toEqual({ action: "retry", delayMs: retryDelayMs(0) });
    expect(afterFailure({ ...base, round: 1, candidates: [load("a")], tried: new Set(["a"]) })).toEqual({ action: "fail" });
  });
  it("does not retry past the deadline", () => {
    expect(afterFailure({ ...base, deadline: 1100, candidates: [], tried: new Set() })).toEqual({ action: "fail" });
  });
  it("backs off 250 ms doubling, capped at 10 s", () => {
    expect([0, 1, 2, 10].map(retryDelayMs)).toEqual([250, 500, 1000, 10_000]);
  });
});

describe("member breaker (pure)", () => {
  it("opens after the threshold of consecutive failures, allows a trial after the cooldown, closes on success", () => {
    let b = closedBreaker();
    let t: ReturnType<typeof recordOutcome>["transition"];
    ({ next: b, transition: t } = recordOutcome(b, false, 0, 2));
    expect([b.state, t]).toEqual(["closed", undefined]);
    ({ next: b, transition: t } = recordOutcome(b, false, 10, 2));
    expect([b.state, t]).toEqual(["open", "opened"]);
    expect(breakerAllows(b, 500, 1000)).toBe(false);
    expect(breakerAllows(b, 1010, 1000)).toBe(true);
    ({ next: b, transition: t } = recordOutcome(b, false, 1010, 2)); // failed trial re-arms
    expect([b.state, t, breakerAllows(b, 1500, 1000)]).toEqual(["open", undefined, false]);
    ({ next: b, transition: t } = recordOutcome(b, true, 2100, 2));
    expect([b.state, t]).toEqual(["closed", "closed"]);
  });
  it("a success resets the failure count", () => {
    const { next } = recordOutcome(recordOutcome(closedBreaker(), false, 0, 3).next, true, 1, 3);
    expect(next).toEqual(closedBreaker());
  });
});

describe("consensus aggregation (pure)", () => {
  let arrival = 0;
  const ok = (member: string, output: unknown): MemberAnswer => ({ member, ok: true, output, durationMs: 1, arrival: arrival++ });
  const bad = (member: string): MemberAnswer => ({ member, ok: false, error: { code: "agent_failed", detail: "x" }, durationMs: 1, arrival: arrival++ });

  it("majority compares canonical JSON, so key order does not matter", () => {
    const v = aggregate("majority", 3, [ok("a", { x: 1, y: 2 }), ok("b", { y: 2, x: 1 }), ok("c", { x: 9 })]);
    expect(v).toEqual({ decided: true, output: { x: 1, y: 2 }, agreement: 2 / 3, agreeing: ["a", "b"] });
  });
  it("majority needs more than half of n", () => {
    const v = aggregate("majority", 4, [ok("a", 1), ok("b", 1), ok("c", 2), ok("d", 2)]);
    expect(v).toMatchObject({ decided: false, reason: "disagreement", agreement: 0.5 });
    expect(aggregate("majority", 3, [ok("a", 1), bad("b"), bad("c")])).toMatchObject({ decided: false, reason: "too_few_answers", agreement: 1 / 3 });
  });
  it("unanimous needs every one of n to agree", () => {
    expect(aggregate("unanimous", 3, [ok("a", "x"), ok("b", "x"), ok("c", "x")])).toMatchObject({ decided: true, agreement: 1 });
    expect(aggregate("unanimous", 3, [ok("a", "x"), ok("b", "x"), ok("c", "y")])).toMatchObject({ decided: false, reason: "disagreement", agreement: 2 / 3 });
    expect(aggregate("unanimous", 3, [ok("a", "x"), ok("b", "x"), bad("c")])).toMatchObject({ decided: false, reason: "too_few_answers" });
  });
  it("first takes the earliest success and still reports agreement", () => {
    const answers = [bad("a"), ok("b", 7), ok("c", 8), ok("d", 7)];
    expect(aggregate("first", 3, answers)).toEqual({ decided: true, output: 7, agreement: 2 / 3, agreeing: ["b", "d"] });
    expect(aggregate("first", 2, [bad("a"), bad("b")])).toMatchObject({ decided: false, agreement: 0 });
  });
});
