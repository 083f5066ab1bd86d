import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { GroupCommit, type Statement } from "../src/registry/group-commit";
import { agentSpecSchema } from "../src/registry/spec";
import { createAgent } from "../src/registry/publish";
import { agentChannels, deploymentHistory, findAgent, registryDb } from "../src/registry/store";
import { countingD1 } from "./counting-d1";
import { api, codeSpec } from "./helpers";

const insert = (key: string): Statement => ({ sql: "INSERT INTO group_commit_probe (k) VALUES (?)", params: [key] });
const stored = async (keys: string[]) =>
  (
    await env.DB.prepare(`SELECT k FROM group_commit_probe WHERE k IN (${keys.map(() => "?").join(",")}) ORDER BY k`)
      .bind(...keys)
      .all<{ k: string }>()
  ).results.map((r) => r.k);

beforeAll(async () => {
  await env.DB.prepare("CREATE TABLE IF NOT EXISTS group_commit_probe (k TEXT PRIMARY KEY)").run();
});

describe("group commit: writes that arrive during a write share the next batch", () => {
  it("a lone write goes at once; the five that arrive while it is in flight go together next", async () => {
    const { db, trips } = countingD1(env.DB);
    const commits = new GroupCommit({ maxStatements: 24, maxWaitMs: 5_000 });
    const keys = ["a1", "a2", "a3", "a4", "a5", "a6"];
    await Promise.all(keys.map((k) => commits.commit(db, [insert(k)])));
    expect(trips).toEqual([{ batch: 1 }, { batch: 5 }]);
    expect(await stored(keys)).toEqual(keys);
  });

  it("a group takes no more statements than its cap; every write still lands", async () => {
    const { db, trips } = countingD1(env.DB);
    const commits = new GroupCommit({ maxStatements: 3, maxWaitMs: 5_000 });
    const keys = Array.from({ length: 8 }, (_, i) => `b${i}`);
    await Promise.all(keys.map((k) => commits.commit(db, [insert(k)])));
    expect(trips).toEqual([{ batch: 1 }, { batch: 3 }, { batch: 3 }, { batch: 1 }]);
    expect(await stored(keys)).toEqual(keys);
  });

  it("one member's failure is its own: the group splits and every member writes alone", async () => {
    await env.DB.prepare("INSERT INTO group_commit_probe (k) VALUES (?)").bind("c-taken").run();
    const { db, trips } = countingD1(env.DB);
    const commits = new GroupCommit({ maxStatements: 24, maxWaitMs: 5_000 });
    const outcomes = await Promise.allSettled(["c1", "c-taken", "c2", "c3"].map((k) => commits.commit(db, [insert(k)])));
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/UNIQUE constraint failed/);
    // c1 alone; the group of three fails as one transaction (nothing of it stands); then each of the three alone.
    expect(trips).toEqual([{ batch: 1 }, { batch: 3 }, { batch: 1 }, { batch: 1 }, { batch: 1 }]);
    expect(await stored(["c1", "c2", "c3", "c-taken"])).toEqual(["c-taken", "c1", "c2", "c3"]);
  });

  it("a writer that never answers strands nobody: those behind it write alone, and the next write takes the lane over", async () => {
    let first = true;
    const stuck = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "batch" && first) {
          first = false;
          return () => new Promise(() => undefined);
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const commits = new GroupCommit({ maxStatements: 24, maxWaitMs: 50 });
    void commits.commit(stuck, [insert("d-lost")]);
    const behind = Promise.all(["d1", "d2"].map((k) => commits.commit(stuck, [insert(k)])));
    await expect(behind).resolves.toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 60));
    // The lane has been busy past maxWaitMs: this write leads at once instead of queueing behind the stuck one.
    const started = Date.now();
    await commits.commit(stuck, [insert("d3")]);
    expect(Date.now() - started).toBeLessThan(50);
    expect(await stored(["d1", "d2", "d3", "d-lost"])).toEqual(["d1", "d2", "d3"]);
  });
});

describe("registrations in a burst", () => {
  const spec = (name: string, description = "first") => agentSpecSchema.parse(codeSpec(name, "1.0.0", { description }));

  it("share D1 batches, and each still gets its own agent, live channel and first deployment", async () => {
    const { db: counted, trips } = countingD1(env.DB);
    const db = registryDb(counted);
    const names = ["gc-one", "gc-two", "gc-three", "gc-four"];
    const results = await Promise.all(names.map((n) => createAgent(db, spec(n), "test")));
    expect(results.every((r) => r.created)).toBe(true);
    // Four statements a registration: the first goes alone, the three behind it in one batch.
    expect(trips.filter((t) => t.batch)).toEqual([{ batch: 4 }, { batch: 12 }]);
    for (const r of results) {
      expect(await findAgent(registryDb(env.DB), r.agent.name)).toEqual(r.agent);
      expect(await agentChannels(registryDb(env.DB), r.agent.id)).toEqual({ live: "1.0.0" });
      expect(await deploymentHistory(registryDb(env.DB), r.agent.id)).toHaveLength(1);
    }
  });

  it("a name registered twice in one group: one agent, the same spec answers as already registered, a different one conflicts", async () => {
    const { db: counted, trips } = countingD1(env.DB);
    const db = registryDb(counted);
    const outcomes = await Promise.allSettled([
      createAgent(db, spec("gc-lead"), "test"),
      createAgent(db, spec("gc-twice"), "test"),
      createAgent(db, spec("gc-twice"), "test"),
      createAgent(db, spec("gc-twice", "other content"), "test"),
      createAgent(db, spec("gc-other"), "test"),
    ]);
    const values = outcomes.map((o) => (o.status === "fulfilled" ? o.value.created : String(o.reason)));
    expect(values[0]).toBe(true);
    expect(values.slice(1, 3).sort()).toEqual([false, true]);
    expect(values[3]).toMatch(/already exists with different content/);
    expect(values[4]).toBe(true);
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM agents WHERE name = 'gc-twice'").first<{ n: number }>();
    expect(rows?.n).toBe(1);
    // gc-lead alone; the four behind it in one batch, which the taken name fails as a whole; then each of the four alone.
    expect(trips.filter((t) => t.batch)).toEqual([{ batch: 4 }, { batch: 16 }, { batch: 4 }, { batch: 4 }, { batch: 4 }, { batch: 4 }]);
  });

  it("through the API: concurrent POST /agents all answer 201 and read back", async () => {
    const names = Array.from({ length: 6 }, (_, i) => `gc-api-${i}`);
    const created = await Promise.all(names.map((n) => api("POST", "/api/v1/agents", { body: codeSpec(n) })));
    expect(created.map((r) => r.status)).toEqual(names.map(() => 201));
    for (const n of names) expect((await api("GET", `/api/v1/agents/${n}`)).status).toBe(200);
  });
});
