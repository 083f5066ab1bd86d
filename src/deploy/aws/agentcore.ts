import { z } from "zod";
import { sha256Hex } from "../../registry/canonical";
import type { AgentSpec } from "../../registry/spec";
import type { AwsOutcome } from "./bedrock";
import { ENTRY_POINT, codeBundle } from "./bundle";
import { clientToken, send, type AwsRequest, type AwsResult } from "./client";
import type { AwsDeployConfig } from "./config";
import { DeployFailure, type StepRunner, type Verdict } from "./runner";
import { agentCoreRuntimeName } from "./validate";

type CodeSpec = Extract<AgentSpec, { kind: "code" }>;

/** The named endpoint callers invoke; DEFAULT follows the newest version, `live` moves only when we say. */
export const LIVE_ENDPOINT = "live";

const runtimeBody = z.object({
  agentRuntimeId: z.string(),
  agentRuntimeArn: z.string(),
  agentRuntimeVersion: z.string(),
  status: z.string(),
  failureReason: z.string().optional(),
});
const endpointBody = z.object({ status: z.string(), liveVersion: z.string().optional(), targetVersion: z.string().optional(), failureReason: z.string().optional() });

function read<T>(schema: z.ZodType<T>, text: string, what: string): T {
  const parsed = schema.safeParse(JSON.parse(text || "{}"));
  if (!parsed.success) throw new DeployFailure("UnexpectedResponse", `${what}: ${parsed.error.issues[0]?.message ?? "unexpected shape"}`);
  return parsed.data;
}

/** AgentCore's control plane (signing name `bedrock-agentcore`) and S3 (signing name `s3`). */
export function agentCoreApi(cfg: AwsDeployConfig) {
  const req = (method: AwsRequest["method"], path: string, json?: unknown): AwsRequest => ({
    service: "bedrock-agentcore",
    method,
    url: `${cfg.agentcoreControlEndpoint}${path}`,
    json,
  });
  const r = (id: string) => `/runtimes/${encodeURIComponent(id)}/`;
  const e = (id: string) => `${r(id)}runtime-endpoints/`;
  return {
    putObject: (key: string, bytes: Uint8Array): AwsRequest => ({
      service: "s3",
      method: "PUT",
      // Path-style against an override (fixtures, S3-compatible stores); virtual-hosted against AWS.
      url: cfg.s3Endpoint ? `${cfg.s3Endpoint}/${cfg.codeBucket}/${key}` : `https://${cfg.codeBucket}.s3.${cfg.region}.amazonaws.com/${key}`,
      bytes,
      headers: { "content-type": "application/zip" },
    }),
    createRuntime: (body: object) => req("PUT", "/runtimes/", body),
    updateRuntime: (id: string, body: object) => req("PUT", r(id), body),
    getRuntime: (id: string, version?: string) => req("GET", `${r(id)}${version ? `?version=${encodeURIComponent(version)}` : ""}`),
    createEndpoint: (id: string, body: object) => req("PUT", e(id), body),
    updateEndpoint: (id: string, name: string, body: object) => req("PUT", `${e(id)}${encodeURIComponent(name)}/`, body),
    getEndpoint: (id: string, name: string) => req("GET", `${e(id)}${encodeURIComponent(name)}/`),
  };
}

const TRANSITIONAL = new Set(["CREATING", "UPDATING"]);

const runtimeReady = (text: string): Verdict => {
  const b = read(runtimeBody.partial().required({ status: true }), text, "GetAgentRuntime");
  if (b.status === "READY") return { state: "done", detail: { status: b.status, version: b.agentRuntimeVersion } };
  if (TRANSITIONAL.has(b.status)) return { state: "wait" };
  return {
    state: "failed",
    code: b.status === "CREATE_FAILED" || b.status === "UPDATE_FAILED" ? "RuntimeFailed" : "UnexpectedRuntimeStatus",
    message: `the runtime is ${b.status}: ${b.failureReason ?? "no reason given"}`,
  };
};

const endpointAt =
  (check: (live: string | undefined) => boolean) =>
  (text: string): Verdict => {
    const b = read(endpointBody, text, "GetAgentRuntimeEndpoint");
    if (b.status === "READY" && check(b.liveVersion)) return { state: "done", detail: { liveVersion: b.liveVersion } };
    if (b.status === "READY" || TRANSITIONAL.has(b.status)) return { state: "wait" };
    return { state: "failed", code: "EndpointFailed", message: `endpoint ${LIVE_ENDPOINT} is ${b.status}: ${b.failureReason ?? "no reason given"}` };
  };

/** The S3 key of a bundle: the runtime name, the registry version and the bundle's own hash. */
export const bundleKey = (spec: CodeSpec, hash: string) => `tdev/${agentCoreRuntimeName(spec.name)}/${spec.version}/${hash.slice(0, 16)}.zip`;

/**
 * Ships a code agent version to AgentCore Runtime: zip → S3 → Update (or Create) the runtime →
 * poll the new version READY → move the `live` endpoint to it → poll until it serves it.
 */
export async function deployToAgentCore(
  cfg: AwsDeployConfig,
  run: StepRunner,
  deploymentId: string,
  spec: CodeSpec,
  knownRuntimeId: string | null,
  onRuntime: (id: string, arn: string) => Promise<void>,
): Promise<AwsOutcome> {
  const api = agentCoreApi(cfg);
  const call = (r: AwsRequest) => () => send(cfg, r);
  const zip = codeBundle(spec);
  const key = bundleKey(spec, await sha256Hex(zip));
  await run.act("agentcore:upload", call(api.putObject(key, zip)), { detail: () => ({ bucket: cfg.codeBucket, key, bytes: zip.byteLength }) });

  const definition = {
    agentRuntimeArtifact: { codeConfiguration: { code: { s3: { bucket: cfg.codeBucket, prefix: key } }, runtime: "NODE_22", entryPoint: [ENTRY_POINT] } },
    roleArn: cfg.agentcoreRoleArn,
    networkConfiguration: { networkMode: "PUBLIC" },
    protocolConfiguration: { serverProtocol: "HTTP" },
    ...(spec.description ? { description: spec.description } : {}),
    environmentVariables: { TDEV_AGENT: spec.name, TDEV_VERSION: spec.version },
  };
  const settleRuntime = (id: string) => (n: number) =>
    run.poll(`agentcore:runtime:settle${n}`, call(api.getRuntime(id)), (t) => (runtimeReady(t).state === "wait" ? { state: "wait" } : { state: "done" }));
  const keep = (t: string) => {
    const b = read(runtimeBody, t, "runtime");
    return { agentRuntimeId: b.agentRuntimeId, agentRuntimeVersion: b.agentRuntimeVersion };
  };
  let made: z.infer<typeof runtimeBody>;
  if (knownRuntimeId) {
    const token = await clientToken(deploymentId, "update-runtime");
    made = read(
      runtimeBody,
      await run.act("agentcore:update-runtime", call(api.updateRuntime(knownRuntimeId, { ...definition, clientToken: token })), {
        settle: settleRuntime(knownRuntimeId),
        detail: keep,
      }),
      "UpdateAgentRuntime",
    );
  } else {
    const token = await clientToken(deploymentId, "create-runtime");
    made = read(
      runtimeBody,
      await run.act("agentcore:create-runtime", call(api.createRuntime({ agentRuntimeName: agentCoreRuntimeName(spec.name), ...definition, clientToken: token })), {
        conflict: "fatal",
        detail: keep,
      }),
      "CreateAgentRuntime",
    );
    await onRuntime(made.agentRuntimeId, made.agentRuntimeArn);
  }
  const id = made.agentRuntimeId;
  const version = made.agentRuntimeVersion;
  await run.poll("agentcore:version-ready", call(api.getRuntime(id, version)), runtimeReady);

  // A missing endpoint is an answer here, not an error.
  const probe = await run.act("agentcore:read-live", async (): Promise<AwsResult> => {
    const r = await send(cfg, api.getEndpoint(id, LIVE_ENDPOINT));
    return !r.ok && r.status === 404 ? { ok: true, status: 404, text: "null" } : r;
  });
  const current = probe === "null" ? null : read(endpointBody, probe, "GetAgentRuntimeEndpoint");
  let previous: string | null = null;
  if (current) {
    previous =
      read(
        endpointBody,
        await run.poll(
          "agentcore:live-ready",
          call(api.getEndpoint(id, LIVE_ENDPOINT)),
          endpointAt(() => true),
        ),
        "GetAgentRuntimeEndpoint",
      ).liveVersion ?? null;
    const token = await clientToken(deploymentId, "move-live");
    await run.act("agentcore:move-live", call(api.updateEndpoint(id, LIVE_ENDPOINT, { agentRuntimeVersion: version, clientToken: token })), {
      settle: (n) =>
        run.poll(
          `agentcore:move-live:settle${n}`,
          call(api.getEndpoint(id, LIVE_ENDPOINT)),
          endpointAt(() => true),
        ),
    });
  } else {
    const token = await clientToken(deploymentId, "create-live");
    await run.act("agentcore:move-live", call(api.createEndpoint(id, { name: LIVE_ENDPOINT, agentRuntimeVersion: version, clientToken: token })), { settle: settleRuntime(id) });
  }
  await run.poll(
    "agentcore:live-moved",
    call(api.getEndpoint(id, LIVE_ENDPOINT)),
    endpointAt((v) => v === version),
  );
  return { awsId: id, awsArn: made.agentRuntimeArn, liveRef: LIVE_ENDPOINT, awsVersion: version, previousAwsVersion: previous };
}

/** Rollback: check the previous version still exists (inactive ones expire after 45 days), then point `live` back at it. */
export async function rollbackAgentCore(cfg: AwsDeployConfig, run: StepRunner, rollbackId: string, runtimeId: string, previous: string): Promise<void> {
  const api = agentCoreApi(cfg);
  const call = (r: AwsRequest) => () => send(cfg, r);
  await run.poll("agentcore:previous-exists", call(api.getRuntime(runtimeId, previous)), runtimeReady);
  const token = await clientToken(rollbackId, "move-live");
  await run.act("agentcore:move-live", call(api.updateEndpoint(runtimeId, LIVE_ENDPOINT, { agentRuntimeVersion: previous, clientToken: token })), {
    settle: (n) =>
      run.poll(
        `agentcore:move-live:settle${n}`,
        call(api.getEndpoint(runtimeId, LIVE_ENDPOINT)),
        endpointAt(() => true),
      ),
  });
  await run.poll(
    "agentcore:live-moved",
    call(api.getEndpoint(runtimeId, LIVE_ENDPOINT)),
    endpointAt((v) => v === previous),
  );
}
