import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Where a version goes on AWS: llm agents to Bedrock Agents, code agents to AgentCore Runtime. */
export const AWS_TARGETS = ["bedrock-agent", "agentcore-runtime"] as const;
export type AwsTarget = (typeof AWS_TARGETS)[number];

export const AWS_DEPLOYMENT_STATUSES = ["queued", "running", "succeeded", "failed", "rolled_back"] as const;
export type AwsDeploymentStatus = (typeof AWS_DEPLOYMENT_STATUSES)[number];

/** One registry version shipped to AWS; a Workflow instance with the same id does the work. */
export const awsDeployments = sqliteTable(
  "aws_deployments",
  {
    id: text("id").primaryKey(),
    agentId: text("agent_id").notNull(),
    version: text("version").notNull(),
    target: text("target").$type<AwsTarget>().notNull(),
    status: text("status").$type<AwsDeploymentStatus>().notNull(),
    /** Bedrock agentId, or AgentCore agentRuntimeId. */
    awsId: text("aws_id"),
    /** AgentCore agentRuntimeArn (Bedrock agents are addressed by id). */
    awsArn: text("aws_arn"),
    /** Bedrock `live` alias id, or the AgentCore endpoint name (`live`). */
    liveRef: text("live_ref"),
    /** The AWS version this deployment made (Bedrock agentVersion, AgentCore agentRuntimeVersion). */
    awsVersion: text("aws_version"),
    /** The AWS version `live` pointed at before; what a rollback moves it back to. */
    previousAwsVersion: text("previous_aws_version"),
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    finishedAt: integer("finished_at"),
    rolledBackAt: integer("rolled_back_at"),
  },
  (t) => [index("aws_deployments_agent").on(t.agentId, t.target, t.createdAt)],
);

/** One logical step of a deployment or its rollback, with its timings. */
export const awsDeploymentSteps = sqliteTable(
  "aws_deployment_steps",
  {
    deploymentId: text("deployment_id").notNull(),
    name: text("name").notNull(),
    seq: integer("seq").notNull(),
    status: text("status").$type<"running" | "succeeded" | "failed">().notNull(),
    attempts: integer("attempts").notNull().default(0),
    polls: integer("polls").notNull().default(0),
    detail: text("detail"),
    errorCode: text("error_code"),
    errorMessage: text("error_message"),
    startedAt: integer("started_at").notNull(),
    finishedAt: integer("finished_at"),
  },
  (t) => [primaryKey({ columns: [t.deploymentId, t.name] })],
);

/** Every attempt, poll and AWS error of a deployment, in order (ids are deterministic, so a replayed step writes once). */
export const awsDeploymentEvents = sqliteTable(
  "aws_deployment_events",
  {
    id: text("id").primaryKey(),
    deploymentId: text("deployment_id").notNull(),
    step: text("step").notNull(),
    kind: text("kind").$type<"attempt" | "poll" | "aws-error" | "status">().notNull(),
    at: integer("at").notNull(),
    data: text("data"),
  },
  (t) => [index("aws_deployment_events_deployment").on(t.deploymentId, t.at)],
);

export type AwsDeploymentRow = typeof awsDeployments.$inferSelect;
export type AwsDeploymentStepRow = typeof awsDeploymentSteps.$inferSelect;
