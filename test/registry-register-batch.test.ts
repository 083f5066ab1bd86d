import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { refuseCycles } from "../src/registry/dependencies";
import { agentSpecSchema } from "../src/registry/spec";
import { createAgent, publishVersion } from "../src/registry/publish";
import { findAgent, registryDb } from "../src/registry/store";
import { countingD1 } from "./counting-d1";
import { codeSpec } from "./helpers";

const spec = (name: string, version = "1.0.0", dependencies: string[] = []) => agentSpecSchema.parse(codeSpec(name, version, { dependencies }));

describe("registration round trips", () => {
  it("registers an agent without dependencies in one D1 batch: the insert checks the name", async () => {
    const { db, trips } = countingD1(env.DB);
    const first = await createAgent(registryDb(db), spec("one-trip"), "test");
    expect(first.created).toBe(true);
    expect(trips).toEqual([{ batch: 4 }]);
    // The same spec again answers as before (idempotent), a different one as a conflict.
    expect((await createAgent(registryDb(env.DB), spec("one-trip"), "test")).created).toBe(false);
    await expect(createAgent(registryDb(env.DB), spec("one-trip", "1.0.1"), "test")).rejects.toMatchObject({ code: "conflict" });
  });

  it("reads the name and the dependency candidates in one round trip, then writes in one", async () => {
    await createAgent(registryDb(env.DB), spec("dep-base"), "test");
    const { db, trips } = countingD1(env.DB);
    await createAgent(registryDb(db), spec("dep-user", "1.0.0", ["dep-base@^1.0.0"]), "test");
    expect(trips).toEqual([{ batch: 2 }, { batch: 5 }]);
    await expect(createAgent(registryDb(env.DB), spec("dep-orphan", "1.0.0", ["nowhere@^1.0.0"]), "test")).rejects.toMatchObject({ code: "unresolved_dependency" });
  });

  it("checks a new version's dependencies and cycles in one read round trip, however deep the graph", async () => {
    const db = registryDb(env.DB);
    await createAgent(db, spec("cy-a"), "test");
    await createAgent(db, spec("cy-b", "1.0.0", ["cy-a@^1.0.0"]), "test");
    await createAgent(db, spec("cy-c", "1.0.0", ["cy-b@^1.0.0"]), "test");
    const a = await findAgent(db, "cy-a");
    const counted = countingD1(env.DB);
    await expect(publishVersion(registryDb(counted.db), a, spec("cy-a", "1.1.0", ["cy-c@^1.0.0"]), "test")).rejects.toMatchObject({
      code: "dependency_cycle",
      extra: { cycle: ["cy-a", "cy-c", "cy-b", "cy-a"] },
    });
    expect(counted.trips).toEqual([{ batch: 3 }]);

    const fine = countingD1(env.DB);
    await createAgent(db, spec("cy-d"), "test");
    await publishVersion(registryDb(fine.db), a, spec("cy-a", "1.2.0", ["cy-d@^1.0.0"]), "test");
    expect(fine.trips).toEqual([{ batch: 3 }, { batch: 3 }]);
  });

  it("finds a cycle by walking only the edges below the resolved versions", () => {
    const edges = [
      { from: "b", fromVersion: "1.0.0", to: "c", toVersion: "1.0.0" },
      { from: "b", fromVersion: "2.0.0", to: "a", toVersion: "1.0.0" }, // not reached: b resolves to 1.0.0
      { from: "c", fromVersion: "1.0.0", to: "d", toVersion: "1.0.0" },
    ];
    expect(() => refuseCycles("a", [{ name: "b", range: "^1", version: "1.0.0" }], edges)).not.toThrow();
    expect(() => refuseCycles("d", [{ name: "b", range: "^1", version: "1.0.0" }], edges)).toThrow(/d -> b -> c -> d/);
  });
});
