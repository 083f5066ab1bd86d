import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { Env } from "../src/env";
import { runSuite } from "../src/evaluation/evaluate";
import { runPendingEvaluation } from "../src/evaluation/pending";
import { bedrockJudge, sandboxRunner } from "../src/evaluation/runner";
import { agentSpecSchema } from "../src/registry/spec";
import { agentCode, eventually, specJson, suiteJson } from "./evolution-helpers";
import { api, codeSpec } from "./helpers";

const fixture = inject("bedrockUrl");
const script = (modelId: string, score: number) =>
  fetch(`${fixture}/__control/script`, { method: "POST", body: JSON.stringify({ modelId, reply: { text: `{"score": ${score}, "reason": "scripted"}` } }) });

const goodParams = { ...specJson.params, w_great: 2, w_love: 2, w_excellent: 2, w_wonderful: 2, w_amazing: 2, w_good: 1, w_best: 2, w_happy: 1, w_perfect: 2, w_recommend: 2 };
const invertedParams = Object.fromEntries(Object.entries(goodParams).map(([k, v]) => [k, k === "threshold" ? -0.5 : -(v as number)]));

describe("suites", () => {
  it("creates a suite, idempotently, and refuses bad ones naming the field", async () => {
    await api("POST", "/api/v1/agents", { body: { ...specJson, code: agentCode } });
    const body = { name: "reviews", agent: "sentiment", cases: suiteJson.cases };
    const first = await api("POST", "/api/v1/suites", { body });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ name: "reviews", caseCount: 120, guardCases: ["pos-01", "neg-01", "pos-27", "neg-28"] });
    expect(first.json.heldOutCases.length).toBeGreaterThan(10);
    expect((await api("POST", "/api/v1/suites", { body })).status).toBe(200);
    const changed = await api("POST", "/api/v1/suites", { body: { ...body, cases: suiteJson.cases.slice(1) } });
    expect(changed.status).toBe(409);

    const bad = await api("POST", "/api/v1/suites", { body: { name: "bad", agent: "sentiment", cases: [{ id: "a", input: 1, checks: [{ type: "regex", pattern: "(" }] }] } });
    expect(bad.status).toBe(422);
    expect(bad.json.errors[0].path).toBe("cases.0.checks.0.pattern");
    const unknownCheck = await api("POST", "/api/v1/suites", { body: { name: "bad", agent: "sentiment", cases: [{ id: "a", input: 1, checks: [{ type: "vibes" }] }] } });
    expect(unknownCheck.status).toBe(422);
    expect((await api("POST", "/api/v1/suites", { body: { ...body, name: "orphan", agent: "nobody" } })).status).toBe(404);
    expect((await api("GET", "/api/v1/suites?agent=sentiment")).json.items.map((s: any) => s.name)).toEqual(["reviews"]);
    const detail = await api("GET", `/api/v1/suites/${first.json.id}`);
    expect(detail.json.cases.length).toBe(120);
  });

  it("scores a version in the sandbox, stores every case and makes the score the version's", async () => {
    const r = await api("POST", "/api/v1/agents/sentiment/versions/1.0.0/evaluate", { body: { suite: "reviews" } });
    expect(r.status).toBe(200);
    // The poor start calls everything negative: exactly the negative half is right.
    expect(r.json).toMatchObject({ version: "1.0.0", score: 0.5, total: 120, passed: 60, counted: 120, uncertain: 0, source: "api" });
    expect(r.json.cases).toHaveLength(120);
    const pos = r.json.cases.find((c: any) => c.caseId === "pos-01");
    expect(pos).toMatchObject({ passed: false, score: 0, status: "succeeded", output: '{"label":"negative","score":0}' });
    expect(pos.checks[0].detail).toBe('expected "positive", got "negative"');
    expect((await api("GET", "/api/v1/agents/sentiment/versions/1.0.0")).json.score).toBe(0.5);
    const stored = await api("GET", `/api/v1/evaluations/${r.json.id}`);
    expect(stored.json.cases).toEqual(r.json.cases);
  });

  it("keeps the score history and flags a version significantly below its parent", async () => {
    await api("PUT", "/api/v1/agents/sentiment", { body: { ...specJson, version: "1.0.1", params: goodParams, code: agentCode } });
    await api("PUT", "/api/v1/agents/sentiment", { body: { ...specJson, version: "1.0.2", params: invertedParams, code: agentCode } });
    const good = await api("POST", "/api/v1/agents/sentiment/versions/1.0.1/evaluate", { body: {} });
    expect(good.json.score).toBeGreaterThan(0.7);
    const bad = await api("POST", "/api/v1/agents/sentiment/versions/1.0.2/evaluate");
    expect(bad.json.score).toBeLessThan(0.5);
    const history = (await api("GET", "/api/v1/agents/sentiment/scores")).json.items;
    expect(history.map((h: any) => [h.version, h.parentVersion, h.regression])).toEqual([
      ["1.0.2", "1.0.1", true],
      ["1.0.1", "1.0.0", false],
      ["1.0.0", null, false],
    ]);
    expect(history[0].pValue).toBeLessThan(0.05);
    expect((await api("POST", "/api/v1/agents/sentiment/versions/9.9.9/evaluate")).status).toBe(404);
  });
});

describe("long suites", () => {
  it("are evaluated on the queue: 202 with a Location to poll until completed", async () => {
    const queued = await api("POST", "/api/v1/agents/sentiment/versions/1.0.1/evaluate", { body: { suite: "reviews", async: true } });
    expect(queued.status).toBe(202);
    expect(queued.json).toMatchObject({ status: "running", version: "1.0.1", total: 120, score: 0 });
    expect(queued.headers.get("location")).toBe(`/api/v1/evaluations/${queued.json.id}`);
    const done = await eventually(
      async () => {
        const r = await api("GET", `/api/v1/evaluations/${queued.json.id}`);
        return r.json.status !== "running" && r.json;
      },
      30_000,
      "queued evaluation",
    );
    expect(done.status).toBe("completed");
    expect(done.cases).toHaveLength(120);
    const sync = (await api("GET", "/api/v1/agents/sentiment/scores")).json.items.find((h: any) => h.version === "1.0.1" && h.id !== done.id);
    expect(done.score).toBe(sync.score); // same version, same suite, same score
    expect(done.passed).toBe(sync.passed);
  });

  it("completes once however many deliveries race", async () => {
    const queued = await api("POST", "/api/v1/agents/sentiment/versions/1.0.0/evaluate", { body: { async: true } });
    await Promise.all([runPendingEvaluation(env, queued.json.id), runPendingEvaluation(env, queued.json.id), runPendingEvaluation(env, queued.json.id)]);
    const done = await eventually(
      async () => {
        const r = await api("GET", `/api/v1/evaluations/${queued.json.id}`);
        return r.json.status !== "running" && r.json;
      },
      30_000,
      "queued evaluation",
    );
    expect(done).toMatchObject({ status: "completed", score: 0.5, error: null });
    expect(done.cases).toHaveLength(120);
    expect(new Set(done.cases.map((c: any) => c.caseId)).size).toBe(120);
  });
});

describe("model judges (against the local Bedrock fixture)", () => {
  const judgeSuite = (name: string) => ({
    name,
    agent: "speaker",
    judges: { models: ["judge-agree-a", "judge-agree-b", "judge-agree-c"], maxSpread: 0.3 },
    cases: [
      { id: "agree", input: { text: "thank you kindly" }, checks: [{ type: "judge", path: "text", rubric: "Is the reply polite?" }] },
      {
        id: "split",
        input: { text: "whatever" },
        checks: [{ type: "judge", path: "text", rubric: "Is the reply polite?", judges: { models: ["judge-split-a", "judge-split-b", "judge-split-c"], maxSpread: 0.3 } }],
      },
      { id: "plain", input: { text: "hi" }, checks: [{ type: "jsonSchema", schema: { type: "object", required: ["text"] } }] },
    ],
  });

  it("takes the median of k judges and leaves a disagreement out of the score as uncertain", async () => {
    await Promise.all([
      script("judge-agree-a", 0.8),
      script("judge-agree-b", 0.9),
      script("judge-agree-c", 0.7),
      script("judge-split-a", 0.1),
      script("judge-split-b", 0.9),
      script("judge-split-c", 0.8),
    ]);
    await api("POST", "/api/v1/agents", { body: codeSpec("speaker", "1.0.0", { code: "export default { async run(input) { return { text: `you said ${input.text}` }; } };" }) });
    await api("POST", "/api/v1/suites", { body: judgeSuite("politeness") });
    const r = await api("POST", "/api/v1/agents/speaker/versions/1.0.0/evaluate");
    expect(r.status).toBe(200);
    const byId = (id: string) => r.json.cases.find((c: any) => c.caseId === id);
    const [agree, split, plain] = [byId("agree"), byId("split"), byId("plain")];
    expect(agree.checks[0]).toMatchObject({ type: "judge", score: 0.8, passed: true, uncertain: false });
    expect(agree.checks[0].judges.map((j: any) => j.score)).toEqual([0.8, 0.9, 0.7]);
    expect(split).toMatchObject({ uncertain: true, passed: false });
    expect(split.checks[0].detail).toBe("judges disagree by 0.80 (limit 0.3)");
    expect(plain.passed).toBe(true);
    // Score counts agree (0.8) and plain (1); the uncertain case is reported, not counted.
    expect(r.json).toMatchObject({ counted: 2, uncertain: 1 });
    expect(r.json.score).toBeCloseTo(0.9, 10);
    expect(r.json.tokens).toBeGreaterThan(0);
  });

  it("says Bedrock is not configured instead of guessing when there are no credentials", async () => {
    const offline = { ...(env as unknown as Env), AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined };
    const spec = agentSpecSchema.parse(codeSpec("speaker", "1.0.0", { code: "export default { async run(input) { return { text: input.text }; } };" }));
    const suite = {
      cases: [{ id: "a", input: { text: "x" }, weight: 1, guard: false, checks: [{ type: "judge" as const, rubric: "polite?", passAt: 0.5 }] }],
      judges: { models: ["judge-agree-a"], maxSpread: 0.3 },
    };
    await expect(runSuite(spec, suite, sandboxRunner(offline, { actor: "test" }), { judge: bedrockJudge(offline) })).rejects.toMatchObject({ code: "bedrock_not_configured" });
  });
});
