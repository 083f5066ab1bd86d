// tdev against the real local system (wrangler dev), run as a subprocess the way people and CI scripts use it.
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, jsonLines, ROOT, spawnTdev, startSystem, tdev, type System } from "./system";

let system: System;
let env: Record<string, string>;

beforeAll(async () => {
  system = await startSystem();
  env = { TDEV_URL: system.url, TDEV_API_KEY: ADMIN_KEY };
});
afterAll(() => system?.stop());

/** Runs tdev with the test system's settings and expects `code`; returns stdout. */
async function ok(args: string[], code = 0, extra: { stdin?: string } = {}) {
  const r = await tdev(args, { env, ...extra });
  expect(r.code, `tdev ${args.join(" ")}\n${r.stderr}`).toBe(code);
  return r;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("settings and exit codes", () => {
  it("exits 4 with the problem's title and detail, no stack, for a bad key", async () => {
    const r = await ok(["agents", "ls", "--key", "not-a-key"], 4);
    expect(r.stderr).toContain("error: Unauthorized");
    expect(r.stderr).toContain("The credentials were refused");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe("");
  });

  it("exits 4 for a key without the scope a command needs", async () => {
    const key = (await ok(["keys", "create", "reader", "--scope", "agents:read"])).stdout.trim();
    const r = await tdev(["squads", "create", "nope", "--member", "echo"], { env: { ...env, TDEV_API_KEY: key } });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("error: Forbidden");
  });

  it("exits 2 for bad usage and 1 when the server is unreachable", async () => {
    expect((await tdev(["agents", "get"], { env })).code).toBe(2);
    expect((await tdev(["frobnicate"], { env })).code).toBe(2);
    const down = await tdev(["agents", "ls"], { env: { ...env, TDEV_URL: "http://127.0.0.1:9" } });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("Cannot reach http://127.0.0.1:9");
  });

  it("logs in to a 0600 file that later commands use, below flags and the environment", async () => {
    const home = mkdtempSync(path.join(tmpdir(), "tdev-login-"));
    const bare = { HOME: home };
    const login = await tdev(["login", "--url", system.url, "--key", ADMIN_KEY], { env: bare });
    expect(login.code, login.stderr).toBe(0);
    const file = path.join(home, ".config/tdev/config.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ url: system.url, key: ADMIN_KEY });
    const who = JSON.parse((await tdev(["whoami", "--json"], { env: bare })).stdout);
    expect(who).toMatchObject({ url: system.url, urlFrom: "file", keyFrom: "file", access: "valid (agents:read)" });
    const overridden = await tdev(["whoami", "--json"], { env: { ...bare, TDEV_API_KEY: "wrong" } });
    expect(overridden.code).toBe(4);
    expect(JSON.parse(overridden.stdout)).toMatchObject({ keyFrom: "env", access: "refused" });
  });
});

describe("agents and runs", () => {
  it("pushes examples/sentiment and shows its measured size against 6,656 bytes", async () => {
    const r = await ok(["agents", "push", "examples/sentiment"]);
    expect(r.stdout).toMatch(/^published sentiment@1\.0\.0: [\d,]+ of 6,656 bytes \(\d+%\)/);
    const again = JSON.parse((await ok(["agents", "push", "examples/sentiment/spec.json", "--json"])).stdout);
    expect(again).toMatchObject({ name: "sentiment", version: "1.0.0", created: false });
    expect(again.sizeBytes).toBeLessThanOrEqual(6656);
    await ok(["agents", "push", "cli/test/fixtures/echo"]);
    await ok(["agents", "push", "cli/test/fixtures/flaky"]);
    const names = JSON.parse((await ok(["agents", "ls", "--json"])).stdout).items.map((a: { name: string }) => a.name);
    expect(names.sort()).toEqual(["echo", "flaky", "sentiment"]);
  });

  it("runs an agent with --input or piped stdin; --json output pipes cleanly", async () => {
    const r = JSON.parse((await ok(["run", "sentiment", "--input", '{"text":"I love it"}', "--json"])).stdout);
    expect(r).toMatchObject({ agent: "sentiment", version: "1.0.0", output: { label: "negative" } });
    const piped = await ok(["run", "echo"], 0, { stdin: '{"from":"stdin"}' });
    expect(JSON.parse(piped.stdout)).toEqual({ from: "stdin" });
    const run = JSON.parse((await ok(["runs", "get", r.runId, "--json"])).stdout);
    expect(run).toMatchObject({ id: r.runId, status: "succeeded" });
  });

  it("exits 5 when the run fails, naming the run", async () => {
    const r = await ok(["run", "flaky", "--input", '{"fail":true}'], 5);
    expect(r.stderr).toContain("error: Agent run failed");
    expect(r.stderr).toMatch(/run: run_\w+/);
  });
});

describe("squads, tasks and workflows", () => {
  let squad: string;

  it("creates a squad and tails it while a task runs", async () => {
    squad = (await ok(["squads", "create", "demo", "--member", "echo", "--member", "flaky"])).stdout.trim();
    expect(squad).toMatch(/^sqd_/);
    const tail = spawnTdev(["tail", "demo", "--json"], { env });
    await tail.waitFor("connected to");
    const task = await ok(["task", "submit", "demo", "--capability", "echo", "--input", '{"hi":1}', "--priority", "9", "--follow", "--json"]);
    expect(JSON.parse(task.stdout)).toMatchObject({ status: "completed", output: { hi: 1 } });
    await tail.waitFor("task.completed");
    tail.child.kill("SIGINT");
    const ended = await tail.done;
    expect(ended.code).toBe(130);
    expect(jsonLines(ended.stdout).map((e: { type: string }) => e.type)).toEqual(["task.queued", "task.started", "task.completed"]);
  });

  it("exits 5 when a followed task fails", async () => {
    const r = await ok(["task", "submit", squad, "--agent", "flaky", "--input", '{"fail":true}', "--retries", "0", "--follow"], 5);
    expect(r.stdout).toContain("agent_failed");
  });

  it("replays missed events with tail --since and stops at --until", async () => {
    const r = await ok(["tail", squad, "--since", "0", "--until", "task.failed", "--json"]);
    const types = jsonLines(r.stdout).map((e: { type: string }) => e.type);
    expect(types.slice(0, 3)).toEqual(["task.queued", "task.started", "task.completed"]);
    expect(types.at(-1)).toBe("task.failed");
  });

  it("follows a workflow run to its end (exit 0), and a failing one to exit 5", async () => {
    expect((await ok(["workflows", "push", "examples/squads/diamond.yaml"])).stdout).toMatch(/stored review-diamond v1: 5 steps in 3 levels/);
    const followed = await ok(["workflows", "run", "demo", "review-diamond", "--input", '{"text":"hello","length":5}', "--follow"]);
    expect(followed.stdout).toMatch(/review-diamond v1 +run_\w+ +completed/);
    expect(followed.stdout.match(/completed/g)?.length).toBeGreaterThanOrEqual(6);
    await ok(["workflows", "push", "cli/test/fixtures/fails.yaml"]);
    const failed = await ok(["workflows", "run", "demo", "fails-on-purpose", "--follow", "--json"], 5);
    expect(jsonLines(failed.stdout).at(-1)).toMatchObject({ status: "failed" });
  });
});

describe("evolution, messaging and cron", () => {
  it("follows an evolution run generation by generation", async () => {
    const suite = JSON.parse(readFileSync(path.join(ROOT, "examples/sentiment/suite.json"), "utf8"));
    const policy = JSON.parse(readFileSync(path.join(ROOT, "examples/sentiment/policy.json"), "utf8"));
    const dir = mkdtempSync(path.join(tmpdir(), "tdev-evo-"));
    writeFileSync(path.join(dir, "suite.json"), JSON.stringify({ ...suite, name: "sentiment-mini", cases: suite.cases.slice(0, 12) }));
    writeFileSync(
      path.join(dir, "policy.json"),
      JSON.stringify({ ...policy, population: 2, generationsPerRun: 1, genes: { threshold: policy.genes.threshold, w_great: policy.genes.w_great } }),
    );
    await ok(["suites", "push", path.join(dir, "suite.json"), "--agent", "sentiment"]);
    await ok(["evolve", "policy", "set", "sentiment", path.join(dir, "policy.json"), "--suite", "sentiment-mini"]);
    const r = await ok(["evolve", "start", "sentiment", "--follow", "--json"]);
    const lines = jsonLines(r.stdout);
    const run = lines.at(-1);
    expect(run).toMatchObject({ status: "completed", generations: 1 });
    expect(lines.slice(0, -1)).toEqual(run.generationStats);
    expect(JSON.parse((await ok(["evolve", "show", run.id, "--json"])).stdout).id).toBe(run.id);
  });

  it("lists a dead letter and replays it", async () => {
    const id = (await ok(["messages", "send", "--agent", "flaky", "--payload", '{"fail":true}'])).stdout.trim();
    let dead: { id: string }[] = [];
    for (let i = 0; i < 60 && !dead.some((d) => d.id === id); i++) {
      await sleep(500);
      dead = JSON.parse((await ok(["dlq", "ls", "--json"])).stdout).items;
    }
    expect(dead.map((d) => d.id)).toContain(id);
    const replayed = JSON.parse((await ok(["dlq", "replay", id, "--json"])).stdout);
    expect(replayed).toMatchObject({ id, replayCount: 1 });
  });

  it("fires the scheduled handler once with tdev cron", async () => {
    const r = await ok(["cron"]);
    expect(r.stdout).toMatch(/^Scheduled handler ran/);
  });
});

describe("backups and runs by trace", () => {
  it("streams a backup as NDJSON that `head` can cut short, and a restore into this non-empty instance is refused", async () => {
    const full = await ok(["backup"]);
    const [header, ...rows] = jsonLines(full.stdout);
    expect(header).toMatchObject({ format: "tdev-backup", version: 1 });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r: { table?: string; row?: unknown }) => typeof r.table === "string" && typeof r.row === "object")).toBe(true);
    const headed = execFileSync("bash", ["-c", `set -o pipefail; "${process.execPath}" cli/tdev.mjs backup | head -2`], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      encoding: "utf8",
    });
    const cut = jsonLines(headed);
    expect(cut).toHaveLength(2);
    expect(cut[0]).toMatchObject({ format: "tdev-backup" });
    expect(cut[1]).toMatchObject({ table: rows[0].table });
    const refused = await ok(["restore"], 1, { stdin: full.stdout });
    expect(refused.stderr).toMatch(/^error: Conflict/);
  });

  it("stores a backup in R2, lists it and downloads it", async () => {
    const stored = JSON.parse((await ok(["backups", "create", "--json"])).stdout);
    expect(stored.name).toMatch(/\.ndjson$/);
    const list = JSON.parse((await ok(["backups", "ls", "--json"])).stdout).items;
    expect(list.map((b: { name: string }) => b.name)).toContain(stored.name);
    const got = await ok(["backups", "get", stored.name]);
    expect(Buffer.byteLength(got.stdout)).toBe(stored.size);
    expect(jsonLines(got.stdout)[0]).toMatchObject({ format: "tdev-backup" });
  });

  it("lists the runs of one trace", async () => {
    const traced = JSON.parse((await ok(["runs", "ls", "--limit", "100", "--json"])).stdout).items.find((r: { traceId: string | null }) => r.traceId);
    expect(traced, "a recorded run with a trace id").toBeDefined();
    const runs = JSON.parse((await ok(["runs", "ls", "--trace", traced.traceId, "--json"])).stdout).items;
    expect(runs.map((r: { id: string }) => r.id)).toContain(traced.id);
    expect(runs.every((r: { traceId: string }) => r.traceId === traced.traceId)).toBe(true);
    expect((await tdev(["runs", "ls", "--trace", "nope"], { env })).stderr).toContain("32 lowercase hex digits");
  });
});
