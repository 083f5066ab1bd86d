import { describe, expect, it } from "vitest";
import { canonicalJson, jsonDepth, MAX_JSON_DEPTH } from "../src/registry/canonical";
import { templateExpressions } from "../src/workflow/template";
import { api, codeSpec } from "./helpers";

/** `{"a":{"a":…{"a":leaf}}}` nested `depth` objects deep. */
function nested(depth: number, leaf: unknown = 1): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

const DEEP = 5000;

async function expectTooDeep(res: Awaited<ReturnType<typeof api>>) {
  expect(res.status, res.text).toBe(400);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(res.json).toMatchObject({ type: "/problems/json-too-deep", status: 400, maxDepth: MAX_JSON_DEPTH });
  expect(res.json.detail).toMatch(/at most 64 levels/);
}

describe("JSON bodies nested deeper than 64 are refused before any handler", () => {
  it("POST /agents with params 5,000 deep: 400 json-too-deep, no agent", async () => {
    await expectTooDeep(await api("POST", "/api/v1/agents", { body: codeSpec("deep-agent", "1.0.0", { params: nested(DEEP) }) }));
    expect((await api("GET", "/api/v1/agents/deep-agent")).status).toBe(404);
  });

  it("PUT /agents/{id} with a deep spec: 400, no new version", async () => {
    expect((await api("POST", "/api/v1/agents", { body: codeSpec("deep-put") })).status).toBe(201);
    await expectTooDeep(await api("PUT", "/api/v1/agents/deep-put", { body: codeSpec("deep-put", "1.0.1", { params: nested(DEEP) }) }));
    expect((await api("GET", "/api/v1/agents/deep-put/versions")).json.items).toHaveLength(1);
  });

  it("POST /workflows/validate and POST /workflows with a deep step input: 400, nothing stored", async () => {
    const wf = { name: "deep-wf", steps: [{ id: "a", capability: "echo", input: nested(DEEP, "{{input.x}}") }] };
    await expectTooDeep(await api("POST", "/api/v1/workflows/validate", { body: wf }));
    await expectTooDeep(await api("POST", "/api/v1/workflows", { body: wf }));
    expect((await api("GET", "/api/v1/workflows/deep-wf")).status).toBe(404);
  });

  it("arrays count too: [[[…]]] 20,000 deep on POST /topics/{topic}/events", async () => {
    const raw = `{"type":"x.y","data":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
    await expectTooDeep(await api("POST", "/api/v1/topics/deep/events", { raw, headers: { "content-type": "application/json" } }));
  });

  it("a squad task with a deep input: 400 before the squad sees it", async () => {
    const squad = await api("POST", "/api/v1/squads", { body: { name: "deep-squad", members: [] } });
    const id = squad.status === 201 ? squad.json.id : "sqd_missing";
    await expectTooDeep(await api("POST", `/api/v1/squads/${id}/tasks`, { body: { capability: "echo", input: nested(DEEP) } }));
    if (squad.status === 201) expect((await api("GET", `/api/v1/squads/${id}/tasks`)).json.items).toEqual([]);
  });

  it("YAML workflows too, flow style or compact sequences, without reaching the YAML parser's recursion", async () => {
    const yaml = (text: string) => ({ raw: text, headers: { "content-type": "application/yaml" } });
    await expectTooDeep(
      await api("POST", "/api/v1/workflows/validate", yaml(`name: deep-yaml\nsteps:\n  - id: a\n    capability: echo\n    input: ${"[".repeat(20_000)}${"]".repeat(20_000)}\n`)),
    );
    await expectTooDeep(
      await api("POST", "/api/v1/workflows/validate", yaml(`name: deep-yaml\nsteps:\n  - id: a\n    capability: echo\n    input:\n      ${"- ".repeat(5000)}x\n`)),
    );
    // Block-style nesting by indentation is bounded by the body size; past 64 it is refused after the parse.
    const block = Array.from({ length: 100 }, (_, i) => `${" ".repeat(6 + i)}k:`).join("\n");
    await expectTooDeep(await api("POST", "/api/v1/workflows", yaml(`name: deep-yaml\nsteps:\n  - id: a\n    capability: echo\n    input:\n${block} 1\n`)));
    expect((await api("GET", "/api/v1/workflows/deep-yaml")).status).toBe(404);
  });

  it("64 levels are accepted", async () => {
    // The spec object is level 1, so params may nest 63 objects deep.
    const res = await api("POST", "/api/v1/agents", { body: codeSpec("deep-ok", "1.0.0", { params: nested(63) }) });
    expect(res.status, res.text).toBe(201);
    await expectTooDeep(await api("POST", "/api/v1/agents", { body: codeSpec("deep-not-ok", "1.0.0", { params: nested(64) }) }));
  });

  it("checks after authentication: an anonymous deep body is 401", async () => {
    expect((await api("POST", "/api/v1/agents", { token: null, body: codeSpec("anon", "1.0.0", { params: nested(DEEP) }) })).status).toBe(401);
  });
});

describe("walkers over user JSON do not recurse", () => {
  it("jsonDepth counts levels and stops past its limit", () => {
    expect(jsonDepth(1)).toBe(0);
    expect(jsonDepth({})).toBe(1);
    expect(jsonDepth({ a: [1, { b: [] }] })).toBe(4);
    expect(jsonDepth(nested(100_000))).toBe(100_000);
    expect(jsonDepth(nested(100_000), 64)).toBe(65);
  });

  it("canonicalJson serialises any depth and keeps its bytes", () => {
    expect(canonicalJson({ b: [1, "x", null, undefined, { d: true, c: 2.5 }], a: { z: undefined, y: "é\n" } })).toBe('{"a":{"y":"é\\n"},"b":[1,"x",null,null,{"c":2.5,"d":true}]}');
    expect(canonicalJson([])).toBe("[]");
    expect(canonicalJson({})).toBe("{}");
    expect(canonicalJson("s")).toBe('"s"');
    expect(canonicalJson(undefined)).toBe("null");
    expect(canonicalJson(nested(50_000))).toBe(`${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}`);
  });

  it("the template scan walks any depth", () => {
    expect(templateExpressions(nested(50_000, "{{ input.x }} and {{steps.a.output}}"))).toEqual(["input.x", "steps.a.output"]);
    expect(templateExpressions([{ a: "{{input.a}}" }, ["{{input.b}}"]])).toEqual(["input.a", "input.b"]);
  });
});
