-- Deployments of registry versions to AWS (Bedrock Agents, AgentCore Runtime), tracked by a Workflow:
-- one row per deployment, one per logical step with timings, one per attempt, poll and AWS error.
CREATE TABLE `aws_deployments` (
	`id` text PRIMARY KEY NOT NULL,
	`agent_id` text NOT NULL,
	`version` text NOT NULL,
	`target` text NOT NULL,
	`status` text NOT NULL,
	`aws_id` text,
	`aws_arn` text,
	`live_ref` text,
	`aws_version` text,
	`previous_aws_version` text,
	`error_code` text,
	`error_message` text,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`finished_at` integer,
	`rolled_back_at` integer
);--> statement-breakpoint
CREATE INDEX `aws_deployments_agent` ON `aws_deployments` (`agent_id`,`target`,`created_at`);--> statement-breakpoint
CREATE TABLE `aws_deployment_steps` (
	`deployment_id` text NOT NULL,
	`name` text NOT NULL,
	`seq` integer NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`polls` integer DEFAULT 0 NOT NULL,
	`detail` text,
	`error_code` text,
	`error_message` text,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	PRIMARY KEY(`deployment_id`, `name`)
);--> statement-breakpoint
CREATE TABLE `aws_deployment_events` (
	`id` text PRIMARY KEY NOT NULL,
	`deployment_id` text NOT NULL,
	`step` text NOT NULL,
	`kind` text NOT NULL,
	`at` integer NOT NULL,
	`data` text
);--> statement-breakpoint
CREATE INDEX `aws_deployment_events_deployment` ON `aws_deployment_events` (`deployment_id`,`at`);
