import { describe, expect, it } from "vitest";
import { hostAllowed } from "../src/runtime/host";
import { AgentSyntaxError, instrumentModule } from "../src/runtime/instrument";
import { boundedLogs, effectiveTimeout, MAX_LOG_CHARS, MAX_LOG_ENTRIES, parseOutput, MAX_OUTPUT_BYTES, settledWithin } from "../src/runtime/limits";
import { fillTemplate } from "../src/runtime/template";
import { checkInput } from "../src/runtime/input-schema";

const strip = (code: string) => instrumentModule(code, "T", "./t.js").code.split("\n").slice(1).join("\n");

describe("instrumentModule", () => {
  it("ticks every loop body, function entry, catch and finally", () => {
    expect(strip("while (x) y();")).toBe("while (x) {T();y();}");
    expect(strip("for (;;) {}")).toBe("for (;;) {T();}");
    expect(strip("do x(); while (y);")).toBe("do {T();x();} while (y);");
    expect(strip("for (const a of b) for (const c in a) ;")).toBe("for (const a of b) {T();for (const c in a) {T();;}}");
    expect(strip("function f() { return 1; }")).toBe("function f() {T(); return 1; }");
    expect(strip("const f = (a) => a + 1;")).toBe("const f = (a) => (T(),a + 1);");
    expect(strip("const g = () => ({ a: 1 });")).toBe("const g = () => ((T(),{ a: 1 }));");
    expect(strip("const h = () => () => 1;")).toBe("const h = () => (T(),() => (T(),1));");
    expect(strip("try { a(); } catch (e) { b(); } finally { c(); }")).toBe("try { a(); } catch (e) {T(); b(); } finally {T(); c(); }");
    expect(strip("class A { m() { return 1; } get g() { return 2; } }")).toBe("class A { m() {T(); return 1; } get g() {T(); return 2; } }");
  });

  it("imports the tick and leaves code without loops or functions alone", () => {
    const out = instrumentModule("export const x = 1;", "T", "./t.js");
    expect(out.code).toBe('import { tick as T } from "./t.js";\nexport const x = 1;');
    expect(out.ticks).toBe(0);
  });

  it("refuses code that does not parse", () => {
    expect(() => instrumentModule("export default {", "T", "./t.js")).toThrow(AgentSyntaxError);
  });
});

describe("limits", () => {
  it("lets a request shorten the spec's timeout but never lengthen it", () => {
    expect(effectiveTimeout(undefined, undefined)).toBe(5_000);
    expect(effectiveTimeout(10_000, undefined)).toBe(10_000);
    expect(effectiveTimeout(10_000, 200)).toBe(200);
    expect(effectiveTimeout(1_000, 20_000)).toBe(1_000);
    expect(effectiveTimeout(undefined, 0)).toBe(1);
  });

  it("parses output on the host, refusing oversize and non-JSON text", () => {
    expect(parseOutput('{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseOutput(`"${"x".repeat(MAX_OUTPUT_BYTES)}"`)).toMatchObject({ ok: false, reason: "too_large" });
    expect(parseOutput("{nope")).toMatchObject({ ok: false, reason: "bad_output" });
    expect(parseOutput(undefined)).toMatchObject({ ok: false, reason: "bad_output" });
  });

  it("waits for a promise at most so long, passing its value or its rejection through", async () => {
    const later = (ms: number, value: string) => new Promise<string>((resolve) => setTimeout(() => resolve(value), ms));
    await expect(settledWithin(later(5, "value"), 500)).resolves.toBe("value");
    await expect(settledWithin(later(500, "too late"), 20)).resolves.toBe("timeout");
    await expect(settledWithin(new Promise<never>(() => {}), 20)).resolves.toBe("timeout");
    await expect(settledWithin(Promise.reject(new Error("refused")), 500)).rejects.toThrow("refused");
  });

  it("bounds the log lines a sandbox reports, whatever it sends", () => {
    expect(boundedLogs(undefined)).toEqual([]);
    expect(boundedLogs({ 0: "a", length: 1 })).toEqual([]);
    const many = boundedLogs(Array.from({ length: MAX_LOG_ENTRIES * 3 }, (_, i) => `line ${i}`));
    expect(many).toHaveLength(MAX_LOG_ENTRIES);
    expect(many.at(-1)).toBe(`line ${MAX_LOG_ENTRIES - 1}`);
    const [long, other, number] = boundedLogs(["x".repeat(MAX_LOG_CHARS * 5), { a: 1 }, 7]);
    expect(long).toBe(`${"x".repeat(MAX_LOG_CHARS)}…`);
    expect([other, number]).toEqual(["[object Object]", "7"]);
  });
});

describe("prompt templates", () => {
  it("fills input and params paths, JSON for non-strings, empty for missing", () => {
    const scope = { input: { text: "hi", n: { m: 2 } }, params: { style: "terse", list: [1, 2] } };
    expect(fillTemplate("{{input.text}} / {{ params.style }} / {{input.n}} / {{params.list}} / {{input.none.deeper}} / {{input}}", scope)).toBe(
      'hi / terse / {"m":2} / [1,2] /  / {"text":"hi","n":{"m":2}}',
    );
    expect(fillTemplate("{{input.__proto__}}{{other.x}}", scope)).toBe("{{other.x}}");
  });
});

describe("input schemas", () => {
  it("reports the failing fields with paths", () => {
    const schema = { type: "object", required: ["a"], properties: { a: { type: "integer", minimum: 1 }, b: { type: "array", items: { type: "string" } } } };
    expect(checkInput(schema, { a: 2, b: ["x"] })).toEqual([]);
    expect(
      checkInput(schema, { a: 0, b: [1] })
        .map((e) => e.path)
        .sort(),
    ).toEqual(["input.a", "input.b.0"]);
    expect(checkInput(undefined, "anything")).toEqual([]);
  });
});

describe("egress host patterns", () => {
  const allowed = (url: string, patterns: string[]) => hostAllowed(new URL(url), patterns);
  it("matches exact hosts, wildcard subdomains and explicit ports only", () => {
    expect(allowed("https://api.example.com/x", ["api.example.com"])).toBe(true);
    expect(allowed("https://API.example.com/x", ["api.example.com"])).toBe(true);
    expect(allowed("https://evil.com/api.example.com", ["api.example.com"])).toBe(false);
    expect(allowed("https://api.example.com.evil.com/", ["api.example.com"])).toBe(false);
    expect(allowed("https://a.b.example.com/", ["*.example.com"])).toBe(true);
    expect(allowed("https://example.com/", ["*.example.com"])).toBe(false);
    expect(allowed("https://badexample.com/", ["*.example.com"])).toBe(false);
    expect(allowed("https://api.example.com:8443/", ["api.example.com"])).toBe(false);
    expect(allowed("http://127.0.0.1:8080/", ["127.0.0.1:8080"])).toBe(true);
    expect(allowed("http://127.0.0.1:8081/", ["127.0.0.1:8080"])).toBe(false);
    expect(allowed("ftp://api.example.com/", ["api.example.com"])).toBe(false);
  });
});
