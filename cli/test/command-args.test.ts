// tdev's command table and the arguments of its commands: lookup, flags and positionals, member, consensus and
// agent@version values, and the backup, AWS deployment and runs commands.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { findCommand, parseCommandArgs, positionalSpec, type Command } from "../lib/args.mjs";
import { ApiProblem, EXIT, UsageError } from "../lib/errors.mjs";
import { createClient } from "../lib/http.mjs";
import { parseLoose } from "../lib/input.mjs";
import { loadSpec } from "../commands/agents.mjs";
import { parseConsensus, parseMember } from "../commands/squads.mjs";
import { followPlan, liveDeployments, parseAgentVersion, parseTarget, rollbackChoice } from "../commands/aws.mjs";
import { COMMANDS } from "../tdev.mjs";

const cmd = (over: Partial<Command>): Command => ({ name: "x y", summary: "", run: async () => undefined, ...over });

describe("command table", () => {
  it("matches the longest command name and leaves the rest as arguments", () => {
    const table = [cmd({ name: "eval" }), cmd({ name: "eval show" })];
    expect(findCommand(table, ["eval", "show", "evl_1"]).command?.name).toBe("eval show");
    expect(findCommand(table, ["eval", "sentiment", "1.0.0", "--suite", "s"])).toMatchObject({ command: { name: "eval" }, rest: ["sentiment", "1.0.0", "--suite", "s"] });
    expect(findCommand(table, ["nope"]).command).toBeUndefined();
  });

  it("names every command once, each with a summary", () => {
    const names = COMMANDS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    for (const c of COMMANDS) expect(c.summary.length).toBeGreaterThan(5);
  });

  it("reads positionals from the usage string, keeping dots and dashes in names", () => {
    expect(positionalSpec("<dir-or-spec.json> [version] [files...]")).toEqual([
      { name: "dir-or-spec.json", required: true, variadic: false },
      { name: "version", required: false, variadic: false },
      { name: "files", required: false, variadic: true },
    ]);
  });

  it("parses flags with parseArgs and refuses unknown flags, missing and extra positionals as usage errors (exit 2)", () => {
    const c = cmd({ args: "<agent> <version>", options: { suite: { type: "string" }, async: { type: "boolean" } } });
    expect(parseCommandArgs(c, ["a", "1.0.0", "--suite", "s", "--json"])).toEqual({
      values: { suite: "s", json: true },
      positionals: { agent: "a", version: "1.0.0" },
    });
    for (const bad of [["a"], ["a", "1", "extra"], ["a", "1", "--nope"], ["a", "1", "--suite"]]) {
      const err = (() => {
        try {
          parseCommandArgs(c, bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err, bad.join(" ")).toBeInstanceOf(UsageError);
      expect((err as UsageError).exitCode).toBe(EXIT.usage);
    }
  });

  it("lets --help through without the required positionals", () => {
    expect(parseCommandArgs(cmd({ args: "<agent>" }), ["--help"]).values.help).toBe(true);
  });
});

describe("argument values", () => {
  it("reads squad members and consensus", () => {
    expect(parseMember("echo", "c")).toEqual({ agent: "echo" });
    expect(parseMember("sentiment#canary:2", "c")).toEqual({ agent: "sentiment", channel: "canary", weight: 2 });
    expect(parseMember("sentiment@1.2.0", "c")).toEqual({ agent: "sentiment", version: "1.2.0" });
    expect(() => parseMember("Bad Name", "c")).toThrow(UsageError);
    expect(parseConsensus("3:majority", "c")).toEqual({ n: 3, strategy: "majority" });
    expect(() => parseConsensus("three", "c")).toThrow(UsageError);
  });

  it("takes --input as JSON, or as a string when it is not JSON", () => {
    expect(parseLoose('{"a":1}')).toEqual({ a: 1 });
    expect(parseLoose("hello")).toBe("hello");
  });

  it("loads a spec directory with the code beside it, and a spec that names its code file", async () => {
    const sentiment = await loadSpec(path.join(import.meta.dirname, "../../examples/sentiment"), undefined, "agents push");
    expect(sentiment.spec.code).toContain("export default");
    const echo = await loadSpec(path.join(import.meta.dirname, "fixtures/echo/spec.json"), undefined, "agents push");
    expect(echo.spec).not.toHaveProperty("codeFile");
    expect(echo.codeFile).toMatch(/echo\.js$/);
  });
});

describe("backups, AWS deployments and runs by trace", () => {
  const parse = (argv: string[]) => {
    const { command, rest } = findCommand(COMMANDS, argv);
    if (!command) throw new Error(`no command for ${argv.join(" ")}`);
    return { name: command.name, ...parseCommandArgs(command, rest) };
  };

  it("parses the backup, restore and backups commands", () => {
    expect(parse(["backup"])).toEqual({ name: "backup", values: {}, positionals: {} });
    expect(parse(["backup", "-o", "b.ndjson"]).values).toEqual({ output: "b.ndjson" });
    expect(parse(["restore"]).positionals).toEqual({});
    expect(parse(["restore", "b.ndjson", "--json"])).toMatchObject({ name: "restore", values: { json: true }, positionals: { file: "b.ndjson" } });
    expect(parse(["backups", "get", "2026-05-03T03-00-00.000Z.ndjson", "--output", "x"])).toMatchObject({
      name: "backups get",
      values: { output: "x" },
      positionals: { name: "2026-05-03T03-00-00.000Z.ndjson" },
    });
    expect(parse(["backups", "ls"]).name).toBe("backups ls");
    expect(parse(["backups", "create", "--json"])).toMatchObject({ name: "backups create", values: { json: true } });
    expect(() => parse(["backups", "get"])).toThrow(UsageError);
    expect(() => parse(["backup", "extra"])).toThrow(UsageError);
  });

  it("parses aws deploy, status, ls and rollback", () => {
    expect(parse(["aws", "deploy", "sentiment@1.2.0", "--target", "bedrock", "-f"])).toEqual({
      name: "aws deploy",
      values: { target: "bedrock", follow: true },
      positionals: { "agent[@version]": "sentiment@1.2.0" },
    });
    expect(parse(["aws", "status", "awd_1", "--follow"])).toMatchObject({ name: "aws status", values: { follow: true }, positionals: { "deployment-id": "awd_1" } });
    expect(parse(["aws", "ls", "sentiment", "--limit", "5"])).toMatchObject({ name: "aws ls", values: { limit: "5" }, positionals: { agent: "sentiment" } });
    expect(parse(["aws", "rollback", "sentiment", "--target", "agentcore"])).toMatchObject({ name: "aws rollback", positionals: { agent: "sentiment" } });
    expect(() => parse(["aws", "deploy"])).toThrow(UsageError);
    expect(() => parse(["aws", "status", "awd_1", "--target", "bedrock"])).toThrow(UsageError);
  });

  it("reads <agent>[@version] and the short target names", () => {
    expect(parseAgentVersion("sentiment", "c")).toEqual({ agent: "sentiment", version: undefined });
    expect(parseAgentVersion("sentiment@1.2.0", "c")).toEqual({ agent: "sentiment", version: "1.2.0" });
    for (const bad of ["sentiment@", "@1.0.0"]) expect(() => parseAgentVersion(bad, "c"), bad).toThrow(UsageError);
    expect([parseTarget("bedrock", "c"), parseTarget("agentcore", "c"), parseTarget("agentcore-runtime", "c"), parseTarget(undefined, "c")]).toEqual([
      "bedrock-agent",
      "agentcore-runtime",
      "agentcore-runtime",
      undefined,
    ]);
    expect(() => parseTarget("lambda", "c")).toThrow(UsageError);
  });

  it("rolls back the deployment live points at: latest finished succeeded-or-rolled-back per target", () => {
    const d = (id: string, target: string, status: string, finishedAt: string | null) => ({ id, target, status, finishedAt });
    const bedrock = [
      d("awd_3", "bedrock-agent", "failed", "2026-05-03T12:00:00Z"),
      d("awd_2", "bedrock-agent", "succeeded", "2026-05-02T12:00:00Z"),
      d("awd_1", "bedrock-agent", "succeeded", "2026-05-01T12:00:00Z"),
      d("awd_4", "bedrock-agent", "queued", null),
    ];
    expect(liveDeployments(bedrock).map((x) => x.id)).toEqual(["awd_2"]);
    expect(rollbackChoice(bedrock, undefined, "a", "c").id).toBe("awd_2");
    const both = [...bedrock, d("awd_5", "agentcore-runtime", "rolled_back", "2026-05-04T12:00:00Z")];
    expect(() => rollbackChoice(both, undefined, "a", "c")).toThrow(/--target/);
    expect(rollbackChoice(both, "bedrock-agent", "a", "c").id).toBe("awd_2");
    expect(() => rollbackChoice(both, "agentcore-runtime", "a", "c")).toThrow(/already rolled back/);
    expect(() => rollbackChoice([], undefined, "a", "c")).toThrow(/no finished AWS deployment/);
  });

  it("follows a deployment to its end and a rollback to rolled_back or its own failed step", () => {
    const deploy = followPlan(undefined);
    expect([deploy.done({ status: "running" }), deploy.done({ status: "failed" }), deploy.ok({ status: "failed" }), deploy.ok({ status: "succeeded" })]).toEqual([
      false,
      true,
      false,
      true,
    ]);
    const rollback = followPlan("rollback-x1");
    const oldStep = { name: "bedrock:update-agent", status: "failed" };
    const ownStep = { name: "rollback-x1:move-alias", status: "failed" };
    expect(rollback.shows(oldStep)).toBe(false);
    expect(rollback.done({ status: "succeeded", steps: [oldStep] })).toBe(false);
    expect(rollback.done({ status: "succeeded", steps: [oldStep, ownStep] })).toBe(true);
    expect(rollback.ok({ status: "succeeded", steps: [ownStep] })).toBe(false);
    expect(rollback.ok({ status: "rolled_back", steps: [] })).toBe(true);
  });

  it("filters runs by trace id", () => {
    expect(parse(["runs", "ls", "--trace", "4bf92f3577b34da6a3ce929d0e0e4736"]).values).toEqual({ trace: "4bf92f3577b34da6a3ce929d0e0e4736" });
  });

  it("hands a streamed answer over unread, and sends a streamed body once (no 429 retry)", async () => {
    const seen: RequestInit[] = [];
    const fetchImpl = (async (_url: string, init: RequestInit) => {
      seen.push(init);
      return init.method === "POST"
        ? new Response("{}", { status: 429, headers: { "retry-after": "1" } })
        : new Response('{"a":1}\n', { headers: { "content-type": "application/x-ndjson" } });
    }) as unknown as typeof fetch;
    const client = createClient({ url: "http://x", fetchImpl, wait: async () => undefined });
    const { data } = await client.request("GET", "/backup", { stream: true });
    expect(await new Response(data).text()).toBe('{"a":1}\n');
    async function* body() {
      yield new TextEncoder().encode("{}\n");
    }
    const err = await client.request("POST", "/restore", { raw: body(), contentType: "application/x-ndjson" }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiProblem);
    expect(seen.filter((i) => i.method === "POST")).toHaveLength(1);
    expect(seen.at(-1)).toMatchObject({ duplex: "half", headers: { "content-type": "application/x-ndjson" } });
  });
});
