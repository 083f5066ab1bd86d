import { env } from "cloudflare:workers";
import { unzipSync, strFromU8 } from "fflate";
import { describe, expect, inject, it } from "vitest";
import { awsDeployConfig } from "../src/deploy/aws/config";
import { agentCoreRuntimeName, bedrockInstruction, deployProblems } from "../src/deploy/aws/validate";
import { backoffMs } from "../src/deploy/aws/runner";
import { agentSpecSchema } from "../src/registry/spec";
import { api, codeSpec } from "./helpers";

const urls = inject("awsUrls");
const control = async (path: string, body?: unknown) => {
  const res = await fetch(`${urls.bedrockAgent}/__control/${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });
  return res.headers.get("content-type")?.includes("json") ? res.json() : new Uint8Array(await res.arrayBuffer());
};
const state = () => control("state") as Promise<any>;

const PROMPT = "You are a careful support agent. Answer in a {{params.tone}} tone, in at most {{params.words}} words: {{input.text}}";
const llmSpec = (name: string, version = "1.0.0", extra: Record<string, unknown> = {}) => ({
  name,
  version,
  kind: "llm",
  description: `${name} agent`,
  prompt: PROMPT,
  model: "anthropic.claude-3-haiku",
  params: { tone: "friendly", words: 50 },
  ...extra,
});

async function register(spec: Record<string, unknown>) {
  const res = await api("POST", "/api/v1/agents", { body: spec });
  expect(res.status, res.text).toBe(201);
  return res.json.id as string;
}
async function publish(agentId: string, spec: Record<string, unknown>) {
  const res = await api("PUT", `/api/v1/agents/${agentId}`, { body: spec });
  expect([200, 201], res.text).toContain(res.status);
}

/** Waits for a deployment (or its rollback) to reach one of the wanted statuses. */
async function settled(id: string, wanted: string[] = ["succeeded", "failed"], extra: (d: any) => boolean = () => true) {
  const until = Date.now() + 25_000;
  for (;;) {
    const res = await api("GET", `/api/v1/aws-deployments/${id}`);
    expect(res.status).toBe(200);
    if (wanted.includes(res.json.status) && extra(res.json)) return res.json;
    if (Date.now() > until) throw new Error(`deployment ${id} is still ${res.json.status}: ${JSON.stringify(res.json.steps.at(-1))}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}
async function deploy(agentId: string, body: Record<string, unknown> = {}) {
  const res = await api("POST", `/api/v1/agents/${agentId}/aws-deployments`, { body });
  expect(res.status, res.text).toBe(202);
  expect(res.json.status).toBe("queued");
  return settled(res.json.id);
}

describe("validation before any AWS call", () => {
  it("names the broken rule in a 422: instruction length, Bedrock and AgentCore name patterns, description, target kind", async () => {
    const short = await register(llmSpec("short-prompt", "1.0.0", { prompt: "Say hi to {{input}}", params: {} }));
    const res = await api("POST", `/api/v1/agents/${short}/aws-deployments`, { body: {} });
    expect(res.status).toBe(422);
    expect(res.json.rules).toEqual(["instruction-length"]);
    expect(res.json.detail).toContain("instruction-length");

    const dashes = await register(llmSpec("two--dashes", "1.0.0", { description: "x".repeat(201) }));
    const both = await api("POST", `/api/v1/agents/${dashes}/aws-deployments`, { body: {} });
    expect(both.status).toBe(422);
    expect(both.json.rules).toEqual(["description-length", "bedrock-name-pattern"]);

    const code = await register(codeSpec("code-to-bedrock"));
    const kind = await api("POST", `/api/v1/agents/${code}/aws-deployments`, { body: { target: "bedrock-agent" } });
    expect(kind.status).toBe(422);
    expect(kind.json.rules).toEqual(["target-kind"]);

    const spec = agentSpecSchema.parse(codeSpec(`a${"-b".repeat(24)}`));
    expect(agentCoreRuntimeName(spec.name)).toBe(`a${"_b".repeat(24)}`);
    expect(deployProblems(spec, "agentcore-runtime").map((p) => p.message.split(":")[0])).toEqual(["agentcore-name-pattern"]);
    // Nothing reached AWS for any of them.
    expect(await control("requests?name=short-prompt")).toEqual([]);
  });

  it("renders {{params.*}} into the instruction and points {{input}} at the user's message", () => {
    expect(bedrockInstruction("Be {{params.tone}} ({{ params.n }}) about {{input.text}}", { tone: "brief", n: 3 })).toBe("Be brief (3) about the user's message");
  });

  it("answers aws-not-configured naming what is missing", () => {
    let caught: any;
    try {
      awsDeployConfig({ ...env, AGENTCORE_ROLE_ARN: undefined, AGENTCORE_CODE_BUCKET: "" }, "agentcore-runtime");
    } catch (e) {
      caught = e;
    }
    expect(caught?.code).toBe("aws_not_configured");
    expect(caught.extra.missing).toEqual(["AGENTCORE_ROLE_ARN", "AGENTCORE_CODE_BUCKET"]);
    expect(() => awsDeployConfig(env, "bedrock-agent")).not.toThrow();
  });

  it("backs off exponentially with jitter, capped", () => {
    expect(backoffMs(100, 1000, 1, 0)).toBe(50);
    expect(backoffMs(100, 1000, 3, 0.999)).toBeLessThan(400);
    expect(backoffMs(100, 1000, 3, 0)).toBe(200);
    expect(backoffMs(100, 1000, 10, 0.5)).toBe(750);
  });
});

describe("Bedrock Agents (llm agents)", () => {
  it("deploys, moves live to each new version, rolls back, and signs every request as bedrock", async () => {
    const agentId = await register(llmSpec("support-bot"));
    const first = await deploy(agentId);
    expect(first.status, JSON.stringify(first.error)).toBe("succeeded");
    expect(first.target).toBe("bedrock-agent");
    expect(first.aws).toMatchObject({ version: "1", previousVersion: null });
    expect(first.aws.agentId).toBeTruthy();
    expect(first.aws.aliasId).toBeTruthy();
    expect(first.steps.map((s: any) => s.name)).toEqual(
      expect.arrayContaining(["bedrock:create-agent", "bedrock:agent-prepared", "bedrock:new-version", "bedrock:version-made", "bedrock:move-live", "bedrock:live-moved"]),
    );
    for (const s of first.steps) expect(s.status).toBe("succeeded");

    let agent = (await state()).agents.find((a: any) => a.agentId === first.aws.agentId);
    expect(agent.instruction).toBe("You are a careful support agent. Answer in a friendly tone, in at most 50 words: the user's message");
    const live = () => agent.aliases.find((a: any) => a.agentAliasName === "live");
    expect(live().routingConfiguration).toEqual([{ agentVersion: "1" }]);

    await publish(agentId, llmSpec("support-bot", "1.1.0", { params: { tone: "formal", words: 30 } }));
    const second = await deploy(agentId, { version: "1.1.0" });
    expect(second.status).toBe("succeeded");
    expect(second.aws).toMatchObject({ agentId: first.aws.agentId, aliasId: first.aws.aliasId, version: "2", previousVersion: "1" });
    expect(second.steps.map((s: any) => s.name)).toContain("bedrock:update-agent");
    agent = (await state()).agents.find((a: any) => a.agentId === first.aws.agentId);
    expect(Object.keys(agent.versions)).toEqual(["1", "2"]);
    expect(live().routingConfiguration).toEqual([{ agentVersion: "2" }]);

    // Only the deployment live points at can be undone.
    expect((await api("POST", `/api/v1/aws-deployments/${first.id}/rollback`)).status).toBe(409);
    const rollback = await api("POST", `/api/v1/aws-deployments/${second.id}/rollback`);
    expect(rollback.status, rollback.text).toBe(202);
    const rolled = await settled(second.id, ["rolled_back"]);
    expect(rolled.rolledBackAt).toBeTruthy();
    agent = (await state()).agents.find((a: any) => a.agentId === first.aws.agentId);
    expect(live().routingConfiguration).toEqual([{ agentVersion: "1" }]);
    // Routing back made no new version.
    expect(Object.keys(agent.versions)).toEqual(["1", "2"]);

    const log = (await control(`requests?name=${first.aws.agentId}`)) as any[];
    expect(log.length).toBeGreaterThan(10);
    for (const r of log) expect(r).toMatchObject({ service: "bedrock", signature: "valid" });

    const list = await api("GET", `/api/v1/agents/${agentId}/aws-deployments`);
    expect(list.json.items.map((d: any) => d.id)).toEqual([second.id, first.id]);
  });

  it("backs off on 429 and 5xx, re-polls and retries a transitional 409, and records every AWS error", async () => {
    const agentId = await register(llmSpec("busy-bot"));
    await control("config", { polls: 2 });
    await control("fail", { op: "PrepareAgent", failures: [{ status: 409, code: "ConflictException", message: "agent is UPDATING" }] });
    await control("fail", {
      op: "CreateAgentAlias",
      failures: [
        { status: 429, code: "ThrottlingException" },
        { status: 503, code: "ServiceUnavailableException" },
      ],
    });
    await control("fail", { op: "GetAgent", failures: [{ status: 500, code: "InternalServerException" }] });
    try {
      const done = await deploy(agentId);
      expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
      const step = (name: string) => done.steps.find((s: any) => s.name === name);
      expect(step("bedrock:prepare-agent").attempts).toBe(2);
      expect(step("bedrock:prepare-agent:settle1")).toBeTruthy();
      expect(step("bedrock:new-version").attempts).toBe(3);
      const agent = (await state()).agents.find((a: any) => a.agentId === done.aws.agentId);
      // Three attempts, one version: the throttled ones never reached the state machine.
      expect(Object.keys(agent.versions)).toEqual(["1"]);
      const { results } = await env.DB.prepare("SELECT data FROM aws_deployment_events WHERE deployment_id = ? AND kind = 'aws-error' ORDER BY at")
        .bind(done.id)
        .all<{ data: string }>();
      expect(results.map((r) => JSON.parse(r.data).code).sort()).toEqual(["ConflictException", "InternalServerException", "ServiceUnavailableException", "ThrottlingException"]);
    } finally {
      await control("config", { polls: 1 });
      await control("reset", {});
    }
  });

  it("ends failed with AWS's code and message on another 4xx, and on FAILED with failureReasons", async () => {
    const quota = await register(llmSpec("quota-bot"));
    await control("fail", { op: "CreateAgent", failures: [{ status: 402, code: "ServiceQuotaExceededException", message: "agents per account exceeded" }] });
    const failed = await deploy(quota);
    expect(failed.status).toBe("failed");
    expect(failed.error).toEqual({ code: "ServiceQuotaExceededException", message: expect.stringContaining("agents per account exceeded") });
    expect(failed.steps.find((s: any) => s.name === "bedrock:create-agent")).toMatchObject({ status: "failed", attempts: 1 });

    const broken = await register(llmSpec("broken-bot"));
    await control("break", { name: "broken-bot", reason: "model anthropic.claude-3-haiku is not enabled for agents" });
    const prepared = await deploy(broken);
    expect(prepared.status).toBe("failed");
    expect(prepared.error.code).toBe("AgentFailed");
    expect(prepared.error.message).toContain("is not enabled for agents");
    expect(prepared.steps.find((s: any) => s.name === "bedrock:agent-prepared")).toMatchObject({ status: "failed" });
  });
});

describe("AgentCore Runtime (code agents)", () => {
  it("zips the agent with a Node entry, uploads it, moves live to each new runtime version and back, each service signed as itself", async () => {
    const code = "export default { async run(input, ctx) { ctx.log('got', input); return { echo: input, tag: ctx.params.tag }; } };";
    const agentId = await register(codeSpec("echo-runtime", "1.0.0", { code, params: { tag: "v1" } }));
    const first = await deploy(agentId);
    expect(first.status, JSON.stringify(first.error)).toBe("succeeded");
    expect(first.aws).toMatchObject({ endpoint: "live", version: "1", previousVersion: null });
    expect(first.aws.runtimeArn).toMatch(/^arn:aws:bedrock-agentcore:us-east-1:\d{12}:runtime\/echo_runtime-/);

    let runtime = (await state()).runtimes.find((r: any) => r.arn === first.aws.runtimeArn);
    expect(runtime.name).toBe("echo_runtime");
    const artifact = runtime.versions["1"].artifact.codeConfiguration;
    expect(artifact).toMatchObject({ runtime: "NODE_22", entryPoint: ["main.js"], code: { s3: { bucket: "tdev-test-code" } } });
    const zip = (await fetch(`${urls.s3}/__control/object?bucket=tdev-test-code&key=${encodeURIComponent(artifact.code.s3.prefix)}`).then((r) => r.arrayBuffer())) as ArrayBuffer;
    const files = unzipSync(new Uint8Array(zip));
    expect(Object.keys(files).sort()).toEqual(["agent.js", "main.js", "package.json", "spec.json"]);
    expect(strFromU8(files["agent.js"]!)).toBe(code);
    expect(strFromU8(files["main.js"]!)).toContain('path !== "/invocations"');
    expect(strFromU8(files["main.js"]!)).toContain('path === "/ping"');
    expect(JSON.parse(strFromU8(files["spec.json"]!))).toMatchObject({ name: "echo-runtime", version: "1.0.0", params: { tag: "v1" } });

    await publish(agentId, codeSpec("echo-runtime", "1.0.1", { code, params: { tag: "v2" } }));
    const second = await deploy(agentId, { version: "1.0.1" });
    expect(second.status, JSON.stringify(second.error)).toBe("succeeded");
    expect(second.aws).toMatchObject({ runtimeArn: first.aws.runtimeArn, version: "2", previousVersion: "1" });
    runtime = (await state()).runtimes.find((r: any) => r.arn === first.aws.runtimeArn);
    const endpoint = (name: string) => runtime.endpoints.find((e: any) => e.name === name);
    expect(endpoint("live").liveVersion).toBe("2");
    expect(endpoint("DEFAULT").liveVersion).toBe("2");

    expect((await api("POST", `/api/v1/aws-deployments/${second.id}/rollback`)).status).toBe(202);
    await settled(second.id, ["rolled_back"]);
    runtime = (await state()).runtimes.find((r: any) => r.arn === first.aws.runtimeArn);
    expect(endpoint("live").liveVersion).toBe("1");
    // DEFAULT still follows the newest version; only live moved back.
    expect(endpoint("DEFAULT").liveVersion).toBe("2");

    const control_ = (await control(`requests?name=echo_runtime`)) as any[];
    const byService = new Set(control_.map((r) => `${r.service}:${r.signature}`));
    expect(byService).toEqual(new Set(["bedrock-agentcore:valid", "s3:valid"]));
    expect(control_.filter((r) => r.op === "PutObject").length).toBe(2);
  });

  it("ends failed with the runtime's failureReason when a version lands UPDATE_FAILED, leaving live where it was", async () => {
    const agentId = await register(codeSpec("flaky-runtime"));
    const first = await deploy(agentId);
    expect(first.status).toBe("succeeded");
    await publish(agentId, codeSpec("flaky-runtime", "1.0.1"));
    await control("break", { name: "flaky_runtime", reason: "main.js exited with code 1" });
    const failed = await deploy(agentId, { version: "1.0.1" });
    expect(failed.status).toBe("failed");
    expect(failed.error).toEqual({ code: "RuntimeFailed", message: expect.stringContaining("main.js exited with code 1") });
    const runtime = (await state()).runtimes.find((r: any) => r.arn === first.aws.runtimeArn);
    expect(runtime.endpoints.find((e: any) => e.name === "live").liveVersion).toBe("1");
    // A failed deployment cannot be rolled back; the first is still what live points at.
    expect((await api("POST", `/api/v1/aws-deployments/${failed.id}/rollback`)).status).toBe(409);
  });
});

describe("scopes", () => {
  it("deploying and rolling back need evolution:admin; reading needs agents:read", async () => {
    const key = await api("POST", "/api/v1/keys", { body: { name: "reader", scopes: ["agents:read"] } });
    expect(key.status, key.text).toBe(201);
    const token = key.json.key;
    const agentId = await register(llmSpec("scoped-bot"));
    expect((await api("POST", `/api/v1/agents/${agentId}/aws-deployments`, { body: {}, token })).status).toBe(403);
    expect((await api("GET", `/api/v1/agents/${agentId}/aws-deployments`, { token })).status).toBe(200);
    expect((await api("POST", `/api/v1/aws-deployments/awd_missing/rollback`, { token })).status).toBe(403);
    expect((await api("GET", `/api/v1/aws-deployments/awd_missing`, { token })).status).toBe(404);
  });
});
