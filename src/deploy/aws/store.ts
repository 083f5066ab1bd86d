import { and, asc, desc, eq, isNotNull, lt, or, sql } from "drizzle-orm";
import type { Env } from "../../env";
import { iso } from "../../encoding";
import { AppError } from "../../errors";
import { publishEvent } from "../../messaging/events";
import { registryDb, type Db } from "../../registry/store";
import { DEPLOYMENT_TOPIC } from "../promote";
import { awsDeploymentEvents, awsDeployments, awsDeploymentSteps, type AwsDeploymentRow, type AwsDeploymentStatus, type AwsDeploymentStepRow, type AwsTarget } from "./schema";

export async function getDeployment(d: Db, id: string): Promise<AwsDeploymentRow> {
  const [row] = await d.select().from(awsDeployments).where(eq(awsDeployments.id, id)).limit(1);
  if (!row) throw new AppError("not_found", `No AWS deployment ${id}.`);
  return row;
}

/** The AWS resource this agent already has on a target (the newest deployment that got as far as making one). */
export async function knownResource(d: Db, agentId: string, target: AwsTarget): Promise<{ awsId: string; awsArn: string | null } | undefined> {
  const [row] = await d
    .select({ awsId: awsDeployments.awsId, awsArn: awsDeployments.awsArn })
    .from(awsDeployments)
    .where(and(eq(awsDeployments.agentId, agentId), eq(awsDeployments.target, target), isNotNull(awsDeployments.awsId)))
    .orderBy(desc(awsDeployments.createdAt), desc(awsDeployments.id))
    .limit(1);
  return row?.awsId ? { awsId: row.awsId, awsArn: row.awsArn } : undefined;
}

/** The deployment that last put `live` where it is now, if any: the only one a rollback may undo. */
export async function currentLive(d: Db, agentId: string, target: AwsTarget): Promise<AwsDeploymentRow | undefined> {
  const [row] = await d
    .select()
    .from(awsDeployments)
    .where(and(eq(awsDeployments.agentId, agentId), eq(awsDeployments.target, target), or(eq(awsDeployments.status, "succeeded"), eq(awsDeployments.status, "rolled_back"))))
    .orderBy(desc(awsDeployments.finishedAt), desc(awsDeployments.id))
    .limit(1);
  return row;
}

export async function patchDeployment(d: Db, id: string, patch: Partial<Omit<AwsDeploymentRow, "id">>): Promise<void> {
  await d
    .update(awsDeployments)
    .set({ ...patch, updatedAt: Date.now() })
    .where(eq(awsDeployments.id, id));
}

/** Moves a deployment to a new status and says so on the `deployments` topic. */
export async function setStatus(env: Env, id: string, status: AwsDeploymentStatus, patch: Partial<Omit<AwsDeploymentRow, "id">> = {}): Promise<void> {
  const d = registryDb(env.DB);
  const now = Date.now();
  const finished = status === "succeeded" || status === "failed" ? { finishedAt: now } : status === "rolled_back" ? { rolledBackAt: now } : {};
  await d.batch([
    d
      .update(awsDeployments)
      .set({ ...patch, ...finished, status, updatedAt: now })
      .where(eq(awsDeployments.id, id)),
    d
      .insert(awsDeploymentEvents)
      .values({ id: `${id}:status:${status}:${now}`, deploymentId: id, step: "status", kind: "status", at: now, data: JSON.stringify({ status, ...patch }) })
      .onConflictDoNothing(),
  ]);
  const row = await getDeployment(d, id);
  await publishEvent(env, DEPLOYMENT_TOPIC, `aws.deployment.${status}`, deploymentView(row, []));
}

export interface AttemptRecord {
  deploymentId: string;
  step: string;
  seq: number;
  /** `#n` of an action or a poll. */
  attempt: number;
  kind: "attempt" | "poll";
  ok: boolean;
  /** The step is over: it succeeded, or failed for good. */
  final?: "succeeded" | "failed";
  awsStatus?: string;
  error?: { status: number; code: string; message: string };
  detail?: Record<string, unknown>;
}

/**
 * Records one attempt or poll of a step (and its AWS error, if any) in one batch, then publishes
 * it. Event ids are deterministic, so a Workflow step replayed after its writes records once.
 */
export async function recordAttempt(env: Env, r: AttemptRecord): Promise<void> {
  const d = registryDb(env.DB);
  const now = Date.now();
  const eventId = `${r.deploymentId}:${r.step}:${r.kind}:${r.attempt}`;
  const data = { attempt: r.attempt, ...(r.awsStatus ? { awsStatus: r.awsStatus } : {}), ...(r.detail ?? {}) };
  const counter = r.kind === "poll" ? { polls: sql`max(${awsDeploymentSteps.polls}, ${r.attempt})` } : { attempts: sql`max(${awsDeploymentSteps.attempts}, ${r.attempt})` };
  const ending = r.final
    ? { status: r.final, finishedAt: now, errorCode: r.error?.code ?? null, errorMessage: r.error?.message ?? null, ...(r.detail ? { detail: JSON.stringify(r.detail) } : {}) }
    : {};
  await d.batch([
    d.insert(awsDeploymentSteps).values({ deploymentId: r.deploymentId, name: r.step, seq: r.seq, status: "running", startedAt: now }).onConflictDoNothing(),
    d
      .update(awsDeploymentSteps)
      .set({ ...counter, ...ending })
      .where(and(eq(awsDeploymentSteps.deploymentId, r.deploymentId), eq(awsDeploymentSteps.name, r.step))),
    d
      .insert(awsDeploymentEvents)
      .values({ id: eventId, deploymentId: r.deploymentId, step: r.step, kind: r.kind, at: now, data: JSON.stringify(data) })
      .onConflictDoNothing(),
    ...(r.error
      ? [
          d
            .insert(awsDeploymentEvents)
            .values({ id: `${eventId}:error`, deploymentId: r.deploymentId, step: r.step, kind: "aws-error", at: now, data: JSON.stringify(r.error) })
            .onConflictDoNothing(),
        ]
      : []),
  ]);
  const base = { deploymentId: r.deploymentId, step: r.step, attempt: r.attempt };
  await publishEvent(env, DEPLOYMENT_TOPIC, `aws.deployment.${r.kind}`, { ...base, ok: r.ok, ...data, ...(r.final ? { stepStatus: r.final } : {}) });
  if (r.error) await publishEvent(env, DEPLOYMENT_TOPIC, "aws.deployment.aws-error", { ...base, ...r.error });
}

export const stepView = (s: AwsDeploymentStepRow) => ({
  name: s.name,
  status: s.status,
  attempts: s.attempts,
  polls: s.polls,
  startedAt: iso(s.startedAt),
  finishedAt: iso(s.finishedAt),
  durationMs: s.finishedAt === null ? null : s.finishedAt - s.startedAt,
  error: s.errorCode ? { code: s.errorCode, message: s.errorMessage ?? "" } : null,
  detail: s.detail ? (JSON.parse(s.detail) as Record<string, unknown>) : null,
});

export function deploymentView(row: AwsDeploymentRow, steps: AwsDeploymentStepRow[]) {
  const bedrock = row.target === "bedrock-agent";
  return {
    id: row.id,
    agentId: row.agentId,
    version: row.version,
    target: row.target,
    status: row.status,
    aws: {
      agentId: bedrock ? row.awsId : null,
      aliasId: bedrock ? row.liveRef : null,
      runtimeId: bedrock ? null : row.awsId,
      runtimeArn: bedrock ? null : row.awsArn,
      endpoint: bedrock ? null : row.liveRef,
      version: row.awsVersion,
      previousVersion: row.previousAwsVersion,
    },
    error: row.errorCode ? { code: row.errorCode, message: row.errorMessage ?? "" } : null,
    createdBy: row.createdBy,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
    finishedAt: iso(row.finishedAt),
    rolledBackAt: iso(row.rolledBackAt),
    steps: steps.map(stepView),
  };
}

export async function deploymentDetail(d: Db, id: string) {
  const row = await getDeployment(d, id);
  const steps = await d.select().from(awsDeploymentSteps).where(eq(awsDeploymentSteps.deploymentId, id)).orderBy(asc(awsDeploymentSteps.seq), asc(awsDeploymentSteps.startedAt));
  return deploymentView(row, steps);
}

/** An agent's deployments, newest first; the cursor is the last id seen (ids sort by creation time). */
export async function listDeployments(d: Db, agentId: string, limit: number, cursor?: string) {
  const rows = await d
    .select()
    .from(awsDeployments)
    .where(and(eq(awsDeployments.agentId, agentId), ...(cursor ? [lt(awsDeployments.id, cursor)] : [])))
    .orderBy(desc(awsDeployments.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return { items: page.map((r) => deploymentView(r, [])), nextCursor: rows.length > limit ? page[page.length - 1]!.id : null };
}
