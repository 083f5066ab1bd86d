import { describe, expect, it } from "vitest";
import { cached, writing } from "../src/registry/read-cache";

describe("registry read cache", () => {
  it("serves a hit within the TTL and reloads after it", async () => {
    let loads = 0;
    const load = async () => ++loads;
    expect(await cached("k1", load, 1_000)).toBe(1);
    expect(await cached("k1", load, 1_500)).toBe(1);
    expect(await cached("k1", load, 2_001)).toBe(2);
  });

  it("is cleared by a write, and never keeps a value read while a write was in flight", async () => {
    let value = "old";
    const load = async () => value;
    expect(await cached("k2", load)).toBe("old");
    let release!: () => void;
    const write = writing(() => new Promise<void>((resolve) => (release = () => ((value = "new"), resolve()))));
    // A read that overlaps the write may see either value, but must not be cached.
    const overlapping = cached("k2", load);
    release();
    await write;
    await overlapping;
    expect(await cached("k2", load)).toBe("new");
  });
});
