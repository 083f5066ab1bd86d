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

  it("is cleared by a write", async () => {
    let value = "old";
    expect(await cached("k2", async () => value)).toBe("old");
    await writing(async () => void (value = "new"));
    expect(await cached("k2", async () => value)).toBe("new");
  });

  it("never keeps a value whose read overlapped a write, even when the read ends after the write", async () => {
    let value = "old";
    let release!: () => void;
    const write = writing(() => new Promise<void>((resolve) => (release = () => ((value = "new"), resolve()))));
    // This read sees the old value and answers only once the write (and its clearing) is over:
    // without the generation guard it would cache "old" for the whole TTL.
    let finishRead!: () => void;
    const overlapping = cached("k3", () => {
      const seen = value;
      return new Promise<string>((resolve) => (finishRead = () => resolve(seen)));
    });
    release();
    await write;
    finishRead();
    expect(await overlapping).toBe("old");
    expect(await cached("k3", async () => value)).toBe("new");
  });
});
