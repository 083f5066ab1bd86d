import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { agentSpecSchema } from "../src/registry/spec";
import { createAgent, publishVersion } from "../src/registry/publish";
import { agentChannels, deploymentHistory, findAgent, findVersion, registryDb } from "../src/registry/store";
import { codeSpec } from "./helpers";

const spec = (name: string, version: string, extra: Record<string, unknown> = {}) => agentSpecSchema.parse(codeSpec(name, version, extra));

// The publishing writes are plain prepared statements (writes.ts); every read goes through drizzle and the schema.
describe("registry writes read back through the schema unchanged", () => {
  it("a new agent: its row, first version, dependency edge, live channel and first deployment", async () => {
    const db = registryDb(env.DB);
    await createAgent(db, spec("rw-base", "1.0.0"), "test");
    const made = await createAgent(db, spec("rw-user", "1.0.0", { capabilities: ["a:b", "c"], dependencies: ["rw-base@^1.0.0"] }), "alice");
    expect(await findAgent(db, "rw-user")).toEqual(made.agent);
    expect(made.agent).toMatchObject({ capabilities: ["a:b", "c"], retired: false, latestVersion: "1.0.0" });
    expect(await findVersion(db, made.agent.id, "1.0.0")).toEqual(made.version);
    expect(made.version).toMatchObject({ parents: null, operator: null, score: null, scoredAt: null, createdBy: "alice" });
    expect(await agentChannels(db, made.agent.id)).toEqual({ live: "1.0.0" });
    expect(await deploymentHistory(db, made.agent.id)).toMatchObject([{ channel: "live", fromVersion: null, toVersion: "1.0.0", actor: "alice", reason: "first version" }]);
    const edges = await env.DB.prepare("SELECT depends_on_name, range, resolved_version FROM dependency_edges WHERE version_id = ?").bind(made.version.id).all();
    expect(edges.results).toEqual([{ depends_on_name: "rw-base", range: "^1.0.0", resolved_version: "1.0.0" }]);
  });

  it("a new version: lineage stored as given; a newer one updates the agent, an older one only its time", async () => {
    const db = registryDb(env.DB);
    const { agent } = await createAgent(db, spec("rw-evolving", "1.0.0"), "test");
    const newer = await publishVersion(db, agent, spec("rw-evolving", "2.0.0", { kind: "code", description: "second", capabilities: ["x"] }), "evolution", {
      parents: ["1.0.0"],
      operator: "mutate",
    });
    expect(await findVersion(db, agent.id, "2.0.0")).toEqual(newer.version);
    expect(newer.version).toMatchObject({ parents: ["1.0.0"], operator: "mutate" });
    expect(await findAgent(db, agent.id)).toEqual(newer.agent);
    expect(newer.agent).toMatchObject({ latestVersion: "2.0.0", description: "second", capabilities: ["x"] });

    const older = await publishVersion(db, newer.agent, spec("rw-evolving", "1.5.0", { description: "not the latest" }), "test");
    const stored = await findAgent(db, agent.id);
    expect(stored).toEqual(older.agent);
    expect(stored).toMatchObject({ latestVersion: "2.0.0", description: "second", capabilities: ["x"] });
  });
});
