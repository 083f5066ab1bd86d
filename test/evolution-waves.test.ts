import { describe, expect, it } from "vitest";
import { evaluationWaves } from "../src/evolution/waves";

describe("evaluation waves (Cloudflare's cap on distinct Dynamic Workers in flight)", () => {
  it("never puts more distinct sandboxes in a wave than the cap; siblings sharing a sandbox ride together", () => {
    const items = [
      { id: "a1", sandbox: "A" },
      { id: "b1", sandbox: "B" },
      { id: "c1", sandbox: "C" },
      { id: "a2", sandbox: "A" },
      { id: "d1", sandbox: "D" },
      { id: "e1", sandbox: "E" },
    ];
    const waves = evaluationWaves(items, { distinct: 2, parallel: 8 });
    expect(waves).toEqual([["a1", "b1", "a2"], ["c1", "d1"], ["e1"]]);
    const sandboxOf = new Map(items.map((i) => [i.id, i.sandbox]));
    for (const w of waves) expect(new Set(w.map((id) => sandboxOf.get(id))).size).toBeLessThanOrEqual(2);
  });

  it("caps a wave's size too, counts llm candidates (no sandbox) only against it, and keeps every candidate once", () => {
    const items = Array.from({ length: 10 }, (_, i) => ({ id: `x${i}`, sandbox: i % 2 ? null : "S" }));
    const waves = evaluationWaves(items, { distinct: 1, parallel: 4 });
    expect(waves.map((w) => w.length)).toEqual([4, 4, 2]);
    expect(waves.flat().sort()).toEqual(items.map((i) => i.id).sort());
  });
});
