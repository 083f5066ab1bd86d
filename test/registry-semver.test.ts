import semver from "semver";
import { describe, expect, it } from "vitest";
import { versionSortKey } from "../src/registry/spec";
import { api, codeSpec } from "./helpers";

/** How SQLite's default BINARY collation (and JS string comparison, for these ASCII keys) orders two versions. */
const compareKeys = (a: string, b: string) => {
  const [ka, kb] = [versionSortKey(a), versionSortKey(b)];
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};
const byKey = (versions: string[]) => [...versions].sort(compareKeys);

// Every pairing of these covers the precedence rules of semver §11: numeric fields by value, a release after its
// prereleases, numeric identifiers by value and before alphanumeric ones, ASCII order, longer lists after their prefixes.
const cores = ["0.0.0", "0.9.0", "0.10.0", "1.0.0", "1.0.9", "1.0.10", "1.2.3", "2.0.0", "10.0.0", "9007199254740990.0.0"];
const prereleases = [
  "",
  "-0",
  "-1",
  "-2",
  "-9",
  "-10",
  "-alpha",
  "-alpha.1",
  "-alpha.9",
  "-alpha.10",
  "-alpha.beta",
  "-alpha-1",
  "-alpha.1.1",
  "-Alpha",
  "-beta",
  "-beta.2",
  "-beta.11",
  "-rc.1",
  "-1a",
  "-99999999999999999999999",
];
const versions = cores.flatMap((core) => prereleases.map((pre) => core + pre)).filter((v) => semver.valid(v) === v);

describe("versionSortKey", () => {
  it("orders 1.0.0-alpha.9 before 1.0.0-alpha.10", () => {
    expect(byKey(["1.0.0-alpha.10", "1.0.0-alpha.9"])).toEqual(["1.0.0-alpha.9", "1.0.0-alpha.10"]);
  });

  it(`sorts exactly like semver.compare over ${versions.length * versions.length} pairs`, () => {
    for (const a of versions) {
      for (const b of versions) {
        expect([a, b, compareKeys(a, b)]).toEqual([a, b, semver.compare(a, b)]);
      }
    }
  });

  it("the semver.org example list comes out in its documented order", () => {
    const documented = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"];
    expect(byKey([...documented].reverse())).toEqual(documented);
  });
});

describe("GET /agents/{id}/versions", () => {
  it("pages newest first in semver order, prereleases included, without skipping or repeating", async () => {
    const published = ["1.0.0-alpha.1", "1.0.0-alpha.9", "1.0.0-alpha.10", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0", "1.0.1-rc.1"];
    expect((await api("POST", "/api/v1/agents", { body: codeSpec("semver-order", published[0]) })).status).toBe(201);
    for (const version of published.slice(1)) expect((await api("PUT", "/api/v1/agents/semver-order", { body: codeSpec("semver-order", version) })).status).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await api("GET", `/api/v1/agents/semver-order/versions?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(page.status).toBe(200);
      seen.push(...page.json.items.map((v: { version: string }) => v.version));
      cursor = page.json.nextCursor;
    } while (cursor);
    expect(seen).toEqual(semver.rsort([...published]));
  });
});
