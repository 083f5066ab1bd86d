import { describe, expect, it } from "vitest";
import type { Genes } from "../src/evolution/policy";
import { casesLed, champion, mergePair, mergeParams, pickParent, updatePool, type PoolCandidate } from "../src/evolution/pool";
import { seededRng } from "../src/evolution/prng";
import { passesScreen, screeningCases } from "../src/evolution/screen";
import { planChildren, rankForEs } from "../src/evolution/search";
import { initEs } from "../src/evolution/strategy";

const trainIds = ["c1", "c2", "c3", "c4"];

function candidate(hash: string, scores: number[], params: Record<string, unknown> = { a: 0, b: 0 }): PoolCandidate {
  const caseScores = Object.fromEntries(trainIds.map((id, i) => [id, scores[i]!]));
  return { id: `id-${hash}`, hash, params, sizeBytes: 100, cost: 0, trainScore: scores.reduce((s, x) => s + x, 0) / scores.length, caseScores };
}

describe("the per-case Pareto pool", () => {
  it("keeps every per-case leader and drops candidates dominated on the case vector", () => {
    const strong = candidate("h1", [1, 1, 1, 0]);
    const specialist = candidate("h2", [0, 0, 0, 1]);
    const dominated = candidate("h3", [1, 0, 1, 0]);
    const pool = updatePool([], [strong, specialist, dominated], trainIds);
    expect(pool.map((c) => c.hash)).toEqual(["h1", "h2"]);
    expect(champion(pool)!.hash).toBe("h1");
  });

  it("keeps one of several candidates with equal case vectors: the first by train score, then by hash", () => {
    const pool = updatePool([], [candidate("hb", [1, 0, 1, 0]), candidate("ha", [1, 0, 1, 0], { a: 1, b: 0 })], trainIds);
    expect(pool.map((c) => c.hash)).toEqual(["ha"]);
  });

  it("keeps the champion even when the cap is tight, and never keeps one hash twice", () => {
    const pool = updatePool([candidate("h1", [1, 1, 1, 0])], [candidate("h1", [1, 1, 1, 0]), candidate("h2", [0, 0, 0, 1])], trainIds, 1);
    expect(pool.map((c) => c.hash)).toEqual(["h1"]);
  });

  it("counts the cases each member leads, ties included, skipping cases no one passes", () => {
    const led = casesLed([candidate("h1", [1, 1, 0, 0]), candidate("h2", [1, 0, 0, 0.5])], trainIds);
    expect(led.get("h1")).toEqual(["c1", "c2"]);
    expect(led.get("h2")).toEqual(["c1", "c4"]);
  });

  it("picks parents in proportion to the cases they lead", () => {
    const pool = [candidate("h1", [1, 1, 1, 0]), candidate("h2", [0, 0, 0, 1])];
    const rng = seededRng("parents");
    const counts = { h1: 0, h2: 0 } as Record<string, number>;
    for (let i = 0; i < 4000; i++) counts[pickParent(pool, trainIds, rng).hash]!++;
    expect(counts.h1! / 4000).toBeGreaterThan(0.71);
    expect(counts.h1! / 4000).toBeLessThan(0.79);
  });

  it("merges two members that lead on different cases, into a child that is neither", () => {
    const genes: Genes = { a: { min: 0, max: 1 }, b: { min: 0, max: 1 }, c: { choices: ["x", "y"] } };
    const left = candidate("h1", [1, 1, 0, 0], { a: 1, b: 0, c: "x", keep: "left" });
    const right = candidate("h2", [0, 0, 1, 1], { a: 0, b: 1, c: "y", keep: "right" });
    const same = candidate("h3", [1, 1, 0, 0], { a: 1, b: 1, c: "x" });
    const rng = seededRng("merge");
    const pair = mergePair([left, right], trainIds, rng)!;
    expect(new Set(pair.map((c) => c.hash))).toEqual(new Set(["h1", "h2"]));
    expect(mergePair([left, same], trainIds, rng)).toBeUndefined(); // they lead the same cases
    for (let i = 0; i < 50; i++) {
      const child = mergeParams(left, right, genes, rng);
      expect(child.keep).toBe("left");
      for (const k of ["a", "b", "c"]) expect([left.params[k], right.params[k]]).toContain(child[k]);
      expect(child).not.toEqual(left.params);
      expect({ ...child, keep: "right" }).not.toEqual(right.params);
    }
  });

  it("plans merges from the pool beside ES samples, parents named, none repeating a member", () => {
    const genes: Genes = { a: { min: 0, max: 1, step: 0.1 }, b: { min: 0, max: 1, step: 0.1 } };
    const pool = [candidate("h1", [1, 1, 0, 0], { a: 0.2, b: 0.8 }), candidate("h2", [0, 0, 1, 1], { a: 0.9, b: 0.1 })];
    const { plans, counts } = planChildren({
      pool,
      es: initEs(genes, { a: 0.5, b: 0.5 }),
      genes,
      baseParams: { a: 0.5, b: 0.5 },
      count: 8,
      rng: seededRng(4),
      trainIds,
      mix: { merge: 0.25 },
    });
    expect(plans).toHaveLength(8);
    expect(counts.merge).toBe(2);
    expect(counts.es).toBe(6);
    for (const p of plans.filter((p) => p.operator === "merge")) expect(new Set(p.parents)).toEqual(new Set(["id-h1", "id-h2"]));
    const keys = plans.map((p) => JSON.stringify(p.params));
    expect(new Set(keys).size).toBe(8);
    for (const c of pool) expect(keys).not.toContain(JSON.stringify(c.params));
  });
});

describe("minibatch screening", () => {
  const ids = Array.from({ length: 20 }, (_, i) => `t${String(i).padStart(2, "0")}`);
  const parent = Object.fromEntries(ids.map((id, i) => [id, i < 3 ? 0 : i < 5 ? 0.5 : 1]));

  it("takes the parent's failed cases (capped) and a seeded sample of the rest", () => {
    const batch = screeningCases(parent, ids, { maxFailed: 8, sampleSize: 4 }, seededRng(1));
    expect(batch.filter((id) => parent[id]! < 1)).toEqual(["t00", "t01", "t02", "t03", "t04"]);
    expect(batch.filter((id) => parent[id] === 1)).toHaveLength(4);
    expect(screeningCases(parent, ids, { maxFailed: 8, sampleSize: 4 }, seededRng(1))).toEqual(batch);
    const capped = screeningCases(parent, ids, { maxFailed: 2, sampleSize: 0 }, seededRng(1));
    expect(capped).toHaveLength(2);
    for (const id of capped) expect(parent[id]!).toBeLessThan(1);
  });

  it("passes a child no worse than its parent on the minibatch, and stops one that is worse", () => {
    const batch = ["t00", "t01", "t05", "t06"];
    const better = { ...parent, t00: 1 };
    const worse = { ...parent, t00: 1, t05: 0, t06: 0 };
    expect(passesScreen(better, parent, batch)).toEqual({ pass: true, child: 0.75, parent: 0.5 });
    expect(passesScreen(parent, parent, batch).pass).toBe(true);
    expect(passesScreen(worse, parent, batch)).toEqual({ pass: false, child: 0.25, parent: 0.5 });
  });

  it("ranks fully evaluated children above screened-out ones, equal scores sharing a rank", () => {
    const ranked = rankForEs([
      { hash: "b", params: { x: 1 }, screenScore: 0.9 },
      { hash: "a", params: { x: 2 }, trainScore: 0.5 },
      { hash: "c", params: { x: 3 }, trainScore: 0.7 },
      { hash: "d", params: { x: 4 }, trainScore: 0.5 },
    ]);
    expect(ranked).toEqual([
      { params: { x: 3 }, rank: 0 },
      { params: { x: 2 }, rank: 1.5 },
      { params: { x: 4 }, rank: 1.5 },
      { params: { x: 1 }, rank: 3 },
    ]);
  });
});
