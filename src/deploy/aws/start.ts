import type { Env } from "../../env";
import { AppError } from "../../errors";
import { newId } from "../../ids";
import { agentSpecSchema } from "../../registry/spec";
import { agentChannels, findAgent, findVersion, registryDb } from "../../registry/store";
import { awsDeployConfig } from "./config";
import { awsDeployments, type AwsTarget } from "./schema";
import { currentLive, getDeployment } from "./store";
import { defaultTarget, deployProblems } from "./validate";
import type { AwsDeployParams } from "./workflow";

/**
 * Accepts a deployment: resolves the version (default: the `live` channel), validates it for the
 * target and the configuration before any AWS call, records it queued and starts its Workflow.
 */
export async function startAwsDeployment(env: Env, agentRef: string, req: { version?: string; target?: AwsTarget }, actor: string): Promise<{ id: string; status: "queued" }> {
  const d = registryDb(env.DB);
  const agent = await findAgent(d, agentRef);
  const version = req.version ?? (await agentChannels(d, agent.id)).live;
  if (!version)
    throw new AppError("validation_failed", `${agent.name} has no live version; name one.`, { errors: [{ path: "version", message: "no live channel to default to" }] });
  const row = await findVersion(d, agent.id, version);
  if (!row) throw new AppError("not_found", `${agent.name} has no version ${version}.`);
  const spec = agentSpecSchema.parse(JSON.parse(row.spec));
  const target = req.target ?? defaultTarget(spec.kind);
  if (!target)
    throw new AppError("validation_failed", `A ${spec.kind} agent has no AWS target; it already runs on AWS.`, {
      errors: [{ path: "target", message: "target-kind: no target for this kind" }],
    });
  const problems = deployProblems(spec, target);
  if (problems.length) {
    throw new AppError("validation_failed", `${agent.name}@${version} cannot go to ${target}: ${problems.map((p) => p.message).join("; ")}`, {
      errors: problems,
      rules: problems.map((p) => p.message.split(":")[0]),
    });
  }
  awsDeployConfig(env, target);
  const now = Date.now();
  const id = newId("awd", now);
  await d.insert(awsDeployments).values({ id, agentId: agent.id, version, target, status: "queued", createdBy: actor, createdAt: now, updatedAt: now });
  await env.AWS_DEPLOYMENTS.create({ id, params: { deploymentId: id, action: "deploy" } satisfies AwsDeployParams });
  return { id, status: "queued" };
}

/** Starts moving `live` back to the AWS version it had before this deployment; only the deployment that put `live` where it is may be undone. */
export async function startAwsRollback(env: Env, id: string): Promise<{ id: string; status: string; rollback: string }> {
  const d = registryDb(env.DB);
  const row = await getDeployment(d, id);
  if (row.status !== "succeeded") throw new AppError("conflict", `Deployment ${id} is ${row.status}; only a succeeded deployment can be rolled back.`);
  if (!row.previousAwsVersion) throw new AppError("conflict", `Deployment ${id} made the first AWS version; there is nothing to roll back to.`);
  const live = await currentLive(d, row.agentId, row.target);
  if (live?.id !== id) throw new AppError("conflict", `Deployment ${id} is not what live points at now (${live?.id ?? "none"}); roll back that one.`);
  awsDeployConfig(env, row.target);
  // Each rollback attempt gets its own instance and step names (a failed one can be tried again); its stamp orders its steps after the deployment's.
  const action = `rollback-${Date.now().toString(36)}`;
  await env.AWS_DEPLOYMENTS.create({ id: `${id}-${action}`, params: { deploymentId: id, action } satisfies AwsDeployParams });
  return { id, status: row.status, rollback: action };
}
