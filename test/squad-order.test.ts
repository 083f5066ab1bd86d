import { describe, expect, it } from "vitest";
import { dispatchOrder, effectivePriority, nextTask, type QueuedTask } from "../src/squad/order";

const AGING = 30_000;
let seq = 0;
const task = (id: string, priority: number, queuedAt: number): QueuedTask => ({ id, priority, queuedAt, seq: ++seq });

describe("dispatch order (pure)", () => {
  it("runs higher priority first and first-in first-out within a priority", () => {
    const now = 1_000_000;
    const queued = [task("low-old", 1, now - 10), task("high-new", 9, now - 1), task("mid-a", 5, now - 5), task("mid-b", 5, now - 4), task("high-old", 9, now - 3)];
    expect(dispatchOrder(queued, now, AGING).map((t) => t.id)).toEqual(["high-old", "high-new", "mid-a", "mid-b", "low-old"]);
    expect(nextTask(queued, now, AGING)?.id).toBe("high-old");
  });

  it("breaks ties in the same millisecond by insertion order", () => {
    const now = 5000;
    const first = task("first", 5, now);
    const second = task("second", 5, now);
    expect(nextTask([second, first], now, AGING)?.id).toBe("first");
    expect(nextTask([], now, AGING)).toBeUndefined();
  });

  it("ages: +1 effective priority per agingMs waited, so a priority-0 task overtakes fresh priority-9 work after 10 periods", () => {
    const now = 10_000_000;
    const old = task("starving", 0, now - 10 * AGING);
    const fresh = task("urgent", 9, now);
    expect(effectivePriority(old, now, AGING)).toBe(10);
    expect(nextTask([fresh, old], now, AGING)?.id).toBe("starving");
    // at equal effective priority the older task still goes first
    const level = task("level", 0, now - 9 * AGING);
    expect(effectivePriority(level, now, AGING)).toBe(9);
    expect(nextTask([fresh, level], now, AGING)?.id).toBe("level");
    // one millisecond short of nine periods it is still behind
    const behind = task("behind", 0, now - 9 * AGING + 1);
    expect(effectivePriority(behind, now, AGING)).toBe(8);
    expect(nextTask([fresh, behind], now, AGING)?.id).toBe("urgent");
  });
});
