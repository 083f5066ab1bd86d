import { z } from "zod";
import type { AgentSpec } from "../../registry/spec";
import { clientToken, send, type AwsRequest, type AwsResult } from "./client";
import type { AwsDeployConfig } from "./config";
import { DeployFailure, type StepRunner, type Verdict } from "./runner";
import { bedrockAgentName, bedrockInstruction } from "./validate";

type LlmSpec = Extract<AgentSpec, { kind: "llm" }>;

/** `next` takes each new version (an alias update without routing snapshots DRAFT); `live` is what callers invoke. */
export const NEXT_ALIAS = "next";
export const LIVE_ALIAS = "live";

const routing = z.array(z.object({ agentVersion: z.string() })).optional();
const agentBody = z.object({ agent: z.object({ agentId: z.string(), agentStatus: z.string(), failureReasons: z.array(z.string()).optional() }) });
const aliasBody = z.object({
  agentAlias: z.object({
    agentAliasId: z.string(),
    agentAliasName: z.string(),
    agentAliasStatus: z.string(),
    routingConfiguration: routing,
    failureReasons: z.array(z.string()).optional(),
  }),
});
const aliasList = z.object({ agentAliasSummaries: z.array(z.object({ agentAliasId: z.string(), agentAliasName: z.string(), routingConfiguration: routing })) });

/** Reads an AWS answer with its schema; a shape we do not know ends the deployment rather than guessing. */
function read<T>(schema: z.ZodType<T>, text: string, what: string): T {
  const parsed = schema.safeParse(JSON.parse(text || "{}"));
  if (!parsed.success) throw new DeployFailure("UnexpectedResponse", `${what}: ${parsed.error.issues[0]?.message ?? "unexpected shape"}`);
  return parsed.data;
}
const versionOf = (alias: { routingConfiguration?: { agentVersion: string }[] }) => alias.routingConfiguration?.[0]?.agentVersion ?? null;

/** Bedrock Agents' control plane (signing name `bedrock`). Paths end in `/`, as the service model spells them. */
export function bedrockApi(cfg: AwsDeployConfig) {
  const url = (path: string) => `${cfg.bedrockAgentEndpoint}${path}`;
  const req = (method: AwsRequest["method"], path: string, json?: unknown): AwsRequest => ({ service: "bedrock", method, url: url(path), json });
  const a = (id: string) => `/agents/${encodeURIComponent(id)}/`;
  return {
    createAgent: (body: object) => req("PUT", "/agents/", body),
    updateAgent: (id: string, body: object) => req("PUT", a(id), body),
    getAgent: (id: string) => req("GET", a(id)),
    prepareAgent: (id: string) => req("POST", a(id)),
    listAliases: (id: string) => req("POST", `${a(id)}agentaliases/`, { maxResults: 100 }),
    createAlias: (id: string, body: object) => req("PUT", `${a(id)}agentaliases/`, body),
    updateAlias: (id: string, aliasId: string, body: object) => req("PUT", `${a(id)}agentaliases/${encodeURIComponent(aliasId)}/`, body),
    getAlias: (id: string, aliasId: string) => req("GET", `${a(id)}agentaliases/${encodeURIComponent(aliasId)}/`),
  };
}

const TRANSITIONAL_AGENT = new Set(["CREATING", "UPDATING", "PREPARING", "VERSIONING", "DELETING"]);

/** Agent states a poll waits for; FAILED ends the deployment with Bedrock's reasons. */
export const agentIs =
  (...wanted: string[]) =>
  (text: string): Verdict => {
    const { agent } = read(agentBody, text, "GetAgent");
    if (wanted.includes(agent.agentStatus)) return { state: "done", detail: { agentStatus: agent.agentStatus } };
    if (agent.agentStatus === "FAILED")
      return { state: "failed", code: "AgentFailed", message: `the agent is FAILED: ${(agent.failureReasons ?? []).join("; ") || "no reason given"}` };
    if (TRANSITIONAL_AGENT.has(agent.agentStatus)) return { state: "wait" };
    return { state: "failed", code: "UnexpectedAgentStatus", message: `the agent is ${agent.agentStatus}` };
  };

const aliasIs =
  (check: (version: string | null) => boolean) =>
  (text: string): Verdict => {
    const { agentAlias } = read(aliasBody, text, "GetAgentAlias");
    if (agentAlias.agentAliasStatus === "FAILED")
      return {
        state: "failed",
        code: "AliasFailed",
        message: `alias ${agentAlias.agentAliasName} is FAILED: ${(agentAlias.failureReasons ?? []).join("; ") || "no reason given"}`,
      };
    const version = versionOf(agentAlias);
    return agentAlias.agentAliasStatus === "PREPARED" && check(version) ? { state: "done", detail: { agentVersion: version } } : { state: "wait" };
  };

export interface AwsOutcome {
  awsId: string;
  awsArn: string | null;
  liveRef: string;
  awsVersion: string;
  previousAwsVersion: string | null;
}

/**
 * Ships an llm agent version to Bedrock Agents: Update (or Create) → poll → Prepare → poll PREPARED
 * → a numbered version through `next` (an alias update without routing) → `live` moved to it.
 */
export async function deployToBedrock(
  cfg: AwsDeployConfig,
  run: StepRunner,
  deploymentId: string,
  spec: LlmSpec,
  knownAgentId: string | null,
  onAgent: (agentId: string) => Promise<void>,
): Promise<AwsOutcome> {
  const api = bedrockApi(cfg);
  const call = (r: AwsRequest) => () => send(cfg, r);
  const definition = {
    agentName: bedrockAgentName(spec.name),
    foundationModel: spec.model,
    instruction: bedrockInstruction(spec.prompt, spec.params),
    agentResourceRoleArn: cfg.bedrockRoleArn,
    ...(spec.description ? { description: spec.description } : {}),
    idleSessionTTLInSeconds: 600,
  };
  const settleAgent = (agentId: string, label: string) => (attempt: number) =>
    run.poll(`bedrock:${label}:settle${attempt}`, call(api.getAgent(agentId)), agentIs("NOT_PREPARED", "PREPARED", "FAILED"));

  let agentId = knownAgentId;
  if (agentId) {
    await run.act("bedrock:update-agent", call(api.updateAgent(agentId, definition)), { settle: settleAgent(agentId, "update-agent") });
  } else {
    const token = await clientToken(deploymentId, "create-agent");
    // A 409 here is a name taken outside this system, not a transitional state.
    const text = await run.act("bedrock:create-agent", call(api.createAgent({ ...definition, clientToken: token })), {
      conflict: "fatal",
      detail: (t) => ({ agentId: read(agentBody, t, "CreateAgent").agent.agentId }),
    });
    agentId = read(agentBody, text, "CreateAgent").agent.agentId;
    await onAgent(agentId);
  }
  const id = agentId;
  await run.poll("bedrock:agent-updated", call(api.getAgent(id)), agentIs("NOT_PREPARED", "PREPARED"));
  await run.act("bedrock:prepare-agent", call(api.prepareAgent(id)), { settle: settleAgent(id, "prepare-agent") });
  await run.poll("bedrock:agent-prepared", call(api.getAgent(id)), agentIs("PREPARED"));

  const aliases = read(aliasList, await run.act("bedrock:list-aliases", call(api.listAliases(id))), "ListAgentAliases").agentAliasSummaries;
  const next = aliases.find((a) => a.agentAliasName === NEXT_ALIAS);
  let nextId: string;
  let before: string | null = null;
  if (next) {
    nextId = next.agentAliasId;
    before = versionOf(
      read(
        aliasBody,
        await run.poll(
          "bedrock:next-ready",
          call(api.getAlias(id, nextId)),
          aliasIs(() => true),
        ),
        "GetAgentAlias",
      ).agentAlias,
    );
    const was = before;
    // Not idempotent: each update without routing makes a version. Re-read first; a changed or busy alias means an earlier attempt got through.
    await run.act(
      "bedrock:new-version",
      async (): Promise<AwsResult> => {
        const current = await send(cfg, api.getAlias(id, nextId));
        if (!current.ok) return current;
        const alias = read(aliasBody, current.text, "GetAgentAlias").agentAlias;
        if (alias.agentAliasStatus !== "PREPARED" || versionOf(alias) !== was) return current;
        return send(cfg, api.updateAlias(id, nextId, { agentAliasName: NEXT_ALIAS, description: `tdev ${spec.name}@${spec.version}` }));
      },
      { settle: settleAgent(id, "new-version") },
    );
  } else {
    const token = await clientToken(deploymentId, "create-next-alias");
    const text = await run.act(
      "bedrock:new-version",
      call(api.createAlias(id, { agentAliasName: NEXT_ALIAS, description: `tdev ${spec.name}@${spec.version}`, clientToken: token })),
      { settle: settleAgent(id, "new-version") },
    );
    nextId = read(aliasBody, text, "CreateAgentAlias").agentAlias.agentAliasId;
  }
  const made = read(
    aliasBody,
    await run.poll(
      "bedrock:version-made",
      call(api.getAlias(id, nextId)),
      aliasIs((v) => v !== null && v !== "DRAFT" && v !== before),
    ),
    "GetAgentAlias",
  );
  const version = versionOf(made.agentAlias)!;
  await run.poll("bedrock:agent-versioned", call(api.getAgent(id)), agentIs("PREPARED"));

  const live = aliases.find((a) => a.agentAliasName === LIVE_ALIAS);
  const routeTo = { agentAliasName: LIVE_ALIAS, routingConfiguration: [{ agentVersion: version }], description: `tdev ${spec.name}@${spec.version}` };
  let liveId: string;
  let previous: string | null = null;
  if (live) {
    liveId = live.agentAliasId;
    previous = versionOf(
      read(
        aliasBody,
        await run.poll(
          "bedrock:live-ready",
          call(api.getAlias(id, liveId)),
          aliasIs(() => true),
        ),
        "GetAgentAlias",
      ).agentAlias,
    );
    // Routing to an existing version only moves the pointer, so a repeat is harmless.
    await run.act("bedrock:move-live", call(api.updateAlias(id, liveId, routeTo)), {
      settle: (n) =>
        run.poll(
          `bedrock:move-live:settle${n}`,
          call(api.getAlias(id, liveId)),
          aliasIs(() => true),
        ),
    });
  } else {
    const token = await clientToken(deploymentId, "create-live-alias");
    liveId = read(aliasBody, await run.act("bedrock:move-live", call(api.createAlias(id, { ...routeTo, clientToken: token }))), "CreateAgentAlias").agentAlias.agentAliasId;
  }
  await run.poll(
    "bedrock:live-moved",
    call(api.getAlias(id, liveId)),
    aliasIs((v) => v === version),
  );
  return { awsId: id, awsArn: null, liveRef: liveId, awsVersion: version, previousAwsVersion: previous };
}

/** Rollback: `live` routes back to the version it had before (routing to a version makes no new one). */
export async function rollbackBedrock(cfg: AwsDeployConfig, run: StepRunner, agentId: string, liveId: string, previous: string): Promise<void> {
  const api = bedrockApi(cfg);
  const call = (r: AwsRequest) => () => send(cfg, r);
  await run.act("bedrock:move-live", call(api.updateAlias(agentId, liveId, { agentAliasName: LIVE_ALIAS, routingConfiguration: [{ agentVersion: previous }] })), {
    settle: (n) =>
      run.poll(
        `bedrock:move-live:settle${n}`,
        call(api.getAlias(agentId, liveId)),
        aliasIs(() => true),
      ),
  });
  await run.poll(
    "bedrock:live-moved",
    call(api.getAlias(agentId, liveId)),
    aliasIs((v) => v === previous),
  );
}
