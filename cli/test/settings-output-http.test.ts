// tdev's plumbing: settings precedence and the login file, tables and colour, exit codes, problems and the HTTP
// client, the squad stream URL and backoff, and the local cron.
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { configPath, readConfigFile, resolveSettings, writeConfigFile } from "../lib/config.mjs";
import { ApiProblem, describeError, EXIT, exitCodeForStatus } from "../lib/errors.mjs";
import { createClient, queryString } from "../lib/http.mjs";
import { colorEnabled, renderFields, renderTable } from "../lib/output.mjs";
import { reconnectDelay, streamUrl } from "../lib/stream.mjs";
import { sizeText } from "../commands/agents.mjs";
import { cronsOf, portOf, scheduledUrl } from "../dev-scheduler.mjs";

describe("settings", () => {
  const file = { url: "http://file:1", key: "file-key" };
  it("takes the flag over the environment over the login file over the default", () => {
    const env = { TDEV_URL: "http://env:2", TDEV_API_KEY: "env-key" };
    expect(resolveSettings({ flags: { url: "http://flag:3", key: "flag-key" }, env, file })).toMatchObject({
      url: "http://flag:3",
      key: "flag-key",
      sources: { url: "flag", key: "flag" },
    });
    expect(resolveSettings({ flags: {}, env, file })).toMatchObject({ url: "http://env:2", key: "env-key", sources: { url: "env", key: "env" } });
    expect(resolveSettings({ flags: {}, env: {}, file })).toMatchObject({ url: "http://file:1", key: "file-key", sources: { url: "file", key: "file" } });
    expect(resolveSettings({ flags: {}, env: { TDEV_URL: "" }, file: {} })).toMatchObject({
      url: "http://localhost:8787",
      key: undefined,
      sources: { url: "default", key: "none" },
    });
  });

  it("normalises a URL without scheme or with a trailing slash, and refuses other schemes", () => {
    expect(resolveSettings({ flags: { url: "localhost:9000/" }, env: {}, file: {} }).url).toBe("http://localhost:9000");
    expect(() => resolveSettings({ flags: { url: "ftp://x" }, env: {}, file: {} })).toThrow(/http or https/);
  });

  it("keeps the login file under XDG_CONFIG_HOME or ~/.config, readable by its owner only", async () => {
    expect(configPath({ HOME: "/home/a" })).toBe("/home/a/.config/tdev/config.json");
    expect(configPath({ HOME: "/home/a", XDG_CONFIG_HOME: "/x" })).toBe("/x/tdev/config.json");
    const where = path.join(mkdtempSync(path.join(tmpdir(), "tdev-cfg-")), "tdev", "config.json");
    expect(await readConfigFile(where)).toEqual({});
    await writeConfigFile(where, file);
    expect(statSync(where).mode & 0o777).toBe(0o600);
    expect(await readConfigFile(where)).toEqual(file);
  });
});

describe("output", () => {
  it("renders aligned columns, right-aligned numbers, empty cells for null, JSON for objects", () => {
    const text = renderTable(
      [
        { n: "a", v: 5, o: null },
        { n: "longer", v: 12345, o: { k: 1 } },
      ],
      [
        { header: "name", get: (r) => r.n },
        { header: "value", get: (r) => r.v, align: "right" },
        { header: "obj", get: (r) => r.o },
      ],
    );
    expect(text).toBe(["NAME    VALUE  OBJ", "a           5", 'longer  12345  {"k":1}'].join("\n"));
    expect(
      renderFields([
        ["a", 1],
        ["longer", "x"],
        ["skipped", undefined],
      ]),
    ).toBe("a:      1\nlonger: x");
  });

  it("colours only a terminal, never under NO_COLOR", () => {
    expect(colorEnabled({ isTTY: true }, {})).toBe(true);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
  });

  it("states a spec's size against the 6,656-byte limit", () => {
    expect(sizeText(1176)).toBe("1,176 of 6,656 bytes (18%)");
  });
});

describe("exit codes and problems", () => {
  it("maps 401 and 403 to 4 and other answers to 1", () => {
    expect([401, 403, 404, 422, 500].map(exitCodeForStatus)).toEqual([4, 4, 1, 1, 1]);
  });

  it("prints a problem's title and detail, never a stack", () => {
    const err = new ApiProblem(422, { title: "Validation failed", detail: "Invalid body: name: required", errors: [{ path: "name", message: "required" }] });
    const { text, exitCode } = describeError(err);
    expect(exitCode).toBe(1);
    expect(text).toBe("error: Validation failed\nInvalid body: name: required\n  name: required");
    expect(describeError(new Error("boom")).text).toBe("error: boom");
  });

  it("waits out a 429 as long as Retry-After asks, then returns the answer", async () => {
    const waits: number[] = [];
    let calls = 0;
    const fetchImpl = (async () =>
      ++calls === 1
        ? new Response("{}", { status: 429, headers: { "retry-after": "3", "content-type": "application/problem+json" } })
        : Response.json({ items: [], nextCursor: null })) as typeof fetch;
    const client = createClient({ url: "http://x", key: "k", fetchImpl, wait: async (ms) => waits.push(ms) });
    expect(await client.get("/agents")).toEqual({ items: [], nextCursor: null });
    expect(waits).toEqual([3000]);
  });

  it("turns a refused connection into advice, exit 1", async () => {
    const fetchImpl = (async () => {
      throw Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } });
    }) as typeof fetch;
    const err = await createClient({ url: "http://x", fetchImpl })
      .get("/health")
      .catch((e) => e);
    expect(describeError(err).text).toContain("Cannot reach http://x (ECONNREFUSED)");
    expect(err.exitCode).toBe(EXIT.error);
  });

  it("builds queries without undefined values", () => {
    expect(queryString({ a: 1, b: undefined, c: "x y" })).toBe("?a=1&c=x+y");
    expect(queryString({})).toBe("");
  });
});

describe("streams and the local cron", () => {
  it("opens the squad stream over ws(s) with since, and backs off reconnects up to 10 s", () => {
    expect(streamUrl("https://h", "sqd_1", 7)).toBe("wss://h/api/v1/squads/sqd_1/stream?since=7");
    expect([0, 1, 2, 10].map(reconnectDelay)).toEqual([500, 1000, 2000, 10_000]);
  });

  it("reads the cron schedule from wrangler.toml and the port from the wrangler dev command", () => {
    expect(cronsOf('[triggers]\ncrons = ["*/30 * * * *", "0 0 * * *"]\n')).toEqual(["*/30 * * * *", "0 0 * * *"]);
    expect(cronsOf('name = "x"\n')).toEqual([]);
    expect(portOf(["wrangler", "dev", "--port", "9000"])).toBe(9000);
    expect(portOf(["wrangler", "dev", "--port=9001"])).toBe(9001);
    expect(portOf(["wrangler", "dev"])).toBe(8787);
    expect(scheduledUrl(8787, "*/30 * * * *", 5)).toBe("http://127.0.0.1:8787/__scheduled?cron=*%2F30%20*%20*%20*%20*&time=5");
  });
});
