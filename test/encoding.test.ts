import { describe, expect, it } from "vitest";
import { decodeBase64, decodeBase64Url, encodeBase64, encodeBase64Url, iso } from "../src/encoding";
import { decodeCursor, encodeCursor } from "../src/registry/cursor";

const bytes = (...b: number[]) => new Uint8Array(b);

describe("iso", () => {
  it("writes epoch milliseconds as ISO 8601 UTC and keeps a missing time null", () => {
    expect(iso(0)).toBe("1970-01-01T00:00:00.000Z");
    expect(iso(Date.UTC(2026, 11, 1, 7, 57, 42, 5))).toBe("2026-12-01T07:57:42.005Z");
    expect(iso(null)).toBeNull();
    expect(iso(undefined)).toBeNull();
  });
});

describe("base64", () => {
  it("round-trips every byte value in both alphabets", () => {
    const all = new Uint8Array(256).map((_, i) => i);
    expect(decodeBase64(encodeBase64(all))).toEqual(all);
    expect(decodeBase64Url(encodeBase64Url(all))).toEqual(all);
  });

  it("writes base64url unpadded with - and _ (RFC 4648 section 5)", () => {
    expect(encodeBase64(bytes(0xfb, 0xff))).toBe("+/8=");
    expect(encodeBase64Url(bytes(0xfb, 0xff))).toBe("-_8");
    expect(decodeBase64Url("-_8")).toEqual(bytes(0xfb, 0xff));
  });

  it("decodes standard base64 strictly: only the canonical text of some bytes", () => {
    expect(decodeBase64("")).toEqual(bytes());
    expect(decodeBase64("+/8=")).toEqual(bytes(0xfb, 0xff));
    expect(decodeBase64("AAE=")).toEqual(bytes(0, 1));
    for (const text of [
      "+/8", // padding left out
      "+/9=", // non-zero padding bits
      "AA==AA==", // padding inside
      "A===",
      "-_8=", // the URL alphabet
      "AA E=", // whitespace, which fromBase64 itself would skip
      " AAE=",
      "AAE=\n",
      "AA\tE=",
      "é===",
      "AAE",
    ])
      expect(decodeBase64(text), JSON.stringify(text)).toBeNull();
  });

  it("refuses what is not unpadded base64url", () => {
    for (const text of ["+/8", "-_8=", "a", "ab c", "é"]) expect(decodeBase64Url(text), text).toBeNull();
  });
});

describe("cursors", () => {
  it("round-trip keys, non-ASCII text included", () => {
    expect(decodeCursor(encodeCursor([1700000000000, "agt_ü"]), ["number", "string"])).toEqual([1700000000000, "agt_ü"]);
  });

  it("still read cursors written before (btoa of the JSON, made URL-safe)", () => {
    const old = btoa(JSON.stringify([5, "run_1"]))
      .replaceAll("+", "-")
      .replaceAll("/", "_")
      .replaceAll("=", "");
    expect(decodeCursor(old, ["number", "string"])).toEqual([5, "run_1"]);
  });

  it("refuse tampered cursors as bad requests", () => {
    for (const c of ["%%%", encodeCursor(["x"]), encodeBase64Url(new TextEncoder().encode("{not json"))]) {
      expect(() => decodeCursor(c, ["number"]), c).toThrowError(/cursor is not valid/);
    }
  });
});
