import { WorkflowEntrypoint, type WorkflowEvent, type WorkflowStep } from "cloudflare:workers";
import type { Env } from "../../env";
import { publishEvent } from "../../messaging/events";
import { agentSpecSchema } from "../../registry/spec";
import { findVersion, registryDb } from "../../registry/store";
import { DEPLOYMENT_TOPIC } from "../promote";
import { deployToAgentCore, rollbackAgentCore } from "./agentcore";
import { deployToBedrock, rollbackBedrock } from "./bedrock";
import { awsDeployConfig } from "./config";
import { DeployFailure, StepRunner } from "./runner";
import { getDeployment, knownResource, patchDeployment, setStatus } from "./store";

export interface AwsDeployParams {
  deploymentId: string;
  /** `deploy`, or `rollback-<base-36 ms stamp>` for one rollback attempt of that deployment (its steps are named apart). */
  action: string;
}

/**
 * One deployment (or rollback) to AWS as a Cloudflare Workflow: each AWS call, poll and wait is a
 * checkpointed step (runner.ts), so a restart resumes where it was and never repeats a call that
 * succeeded. The outcome is written to D1 and published on the `deployments` topic.
 */
export class AwsDeployment extends WorkflowEntrypoint<Env, AwsDeployParams> {
  override async run(event: Readonly<WorkflowEvent<AwsDeployParams>>, step: WorkflowStep): Promise<{ status: string }> {
    const { deploymentId, action } = event.payload;
    const env = this.env;
    const rollback = action !== "deploy";
    const prefix = rollback ? `${action}:` : "";
    const book = new StepRunner(env, step, deploymentId, { pollBaseMs: 1, pollMaxMs: 1, retryBaseMs: 1, retryMaxMs: 1, maxPolls: 1, maxAttempts: 1 }, prefix);
    try {
      const row = await book.do("load", async () => {
        const d = registryDb(env.DB);
        const r = await getDeployment(d, deploymentId);
        const version = await findVersion(d, r.agentId, r.version);
        if (!version) throw new DeployFailure("VersionNotFound", `version ${r.version} is gone from the registry`);
        const known = await knownResource(d, r.agentId, r.target);
        return { ...r, spec: version.spec, knownId: known?.awsId ?? null };
      });
      const cfg = awsDeployConfig(env, row.target);
      const run = new StepRunner(env, step, deploymentId, cfg.timing, prefix, rollback ? parseInt(action.slice("rollback-".length), 36) || 1000 : 0);
      if (rollback) {
        if (!row.awsId || !row.liveRef || !row.previousAwsVersion) throw new DeployFailure("NothingToRollBack", "this deployment has no previous AWS version");
        if (row.target === "bedrock-agent") await rollbackBedrock(cfg, run, row.awsId, row.liveRef, row.previousAwsVersion);
        else await rollbackAgentCore(cfg, run, `${deploymentId}:${action}`, row.awsId, row.previousAwsVersion);
        await book.do("rolled-back", () => setStatus(env, deploymentId, "rolled_back", { errorCode: null, errorMessage: null }));
        return { status: "rolled_back" };
      }
      await book.do("start", () => setStatus(env, deploymentId, "running"));
      const spec = agentSpecSchema.parse(JSON.parse(row.spec));
      const outcome =
        row.target === "bedrock-agent" && spec.kind === "llm"
          ? await deployToBedrock(cfg, run, deploymentId, spec, row.knownId, (awsId) => book.do("record-agent", () => patchDeployment(registryDb(env.DB), deploymentId, { awsId })))
          : row.target === "agentcore-runtime" && spec.kind === "code"
            ? await deployToAgentCore(cfg, run, deploymentId, spec, row.knownId, (awsId, awsArn) =>
                book.do("record-runtime", () => patchDeployment(registryDb(env.DB), deploymentId, { awsId, awsArn })),
              )
            : (() => {
                throw new DeployFailure("TargetMismatch", `${row.target} cannot deploy a ${spec.kind} agent`);
              })();
      await book.do("finish", () => setStatus(env, deploymentId, "succeeded", outcome));
      return { status: "succeeded" };
    } catch (err) {
      const code = err instanceof DeployFailure ? err.code : ((err as { code?: string })?.code ?? "InternalError");
      const message = String((err as Error)?.message ?? err).slice(0, 2000);
      await book.do("fail", async () => {
        if (!rollback) return setStatus(env, deploymentId, "failed", { errorCode: code, errorMessage: message });
        // A failed rollback leaves the deployment live as it was; the error is kept and announced.
        await patchDeployment(registryDb(env.DB), deploymentId, { errorCode: code, errorMessage: `rollback failed: ${message}` });
        await publishEvent(env, DEPLOYMENT_TOPIC, "aws.deployment.rollback_failed", { deploymentId, code, message });
      });
      return { status: rollback ? "rollback_failed" : "failed" };
    }
  }
}
