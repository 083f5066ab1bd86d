CREATE TABLE `promotions` (
	`id` text PRIMARY KEY NOT NULL,
	`agent_id` text NOT NULL,
	`version` text NOT NULL,
	`previous_live` text NOT NULL,
	`run_id` text,
	`candidate_id` text,
	`mode` text NOT NULL,
	`status` text NOT NULL,
	`canary_window` integer NOT NULL,
	`canary_since` integer NOT NULL,
	`detail` text,
	`created_at` integer NOT NULL,
	`decided_at` integer
);
--> statement-breakpoint
CREATE INDEX `promotions_agent` ON `promotions` (`agent_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `promotions_status` ON `promotions` (`status`);--> statement-breakpoint
CREATE TABLE `evaluation_cases` (
	`evaluation_id` text NOT NULL,
	`case_id` text NOT NULL,
	`score` real NOT NULL,
	`passed` integer NOT NULL,
	`uncertain` integer NOT NULL,
	`status` text NOT NULL,
	`duration_ms` integer NOT NULL,
	`tokens` integer NOT NULL,
	`limit_violation` integer NOT NULL,
	`detail` text NOT NULL,
	PRIMARY KEY(`evaluation_id`, `case_id`)
);
--> statement-breakpoint
CREATE TABLE `evaluations` (
	`id` text PRIMARY KEY NOT NULL,
	`agent_id` text NOT NULL,
	`version` text NOT NULL,
	`suite_id` text NOT NULL,
	`suite_hash` text NOT NULL,
	`score` real NOT NULL,
	`train_score` real NOT NULL,
	`held_out_score` real NOT NULL,
	`counted` integer NOT NULL,
	`uncertain` integer NOT NULL,
	`passed` integer NOT NULL,
	`total` integer NOT NULL,
	`tokens` integer NOT NULL,
	`source` text NOT NULL,
	`created_at` integer NOT NULL,
	`created_by` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `evaluations_agent` ON `evaluations` (`agent_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `evaluations_version` ON `evaluations` (`agent_id`,`version`,`created_at`);--> statement-breakpoint
CREATE TABLE `suites` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`agent_id` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`judges` text,
	`cases` text NOT NULL,
	`case_count` integer NOT NULL,
	`content_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`created_by` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `suites_name_unique` ON `suites` (`name`);--> statement-breakpoint
CREATE INDEX `suites_agent` ON `suites` (`agent_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `evolution_approvals` (
	`id` text PRIMARY KEY NOT NULL,
	`agent_id` text NOT NULL,
	`run_id` text NOT NULL,
	`candidate_id` text NOT NULL,
	`version` text NOT NULL,
	`reasons` text NOT NULL,
	`status` text NOT NULL,
	`created_at` integer NOT NULL,
	`decided_at` integer,
	`decided_by` text,
	`note` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `evolution_approvals_candidate` ON `evolution_approvals` (`candidate_id`);--> statement-breakpoint
CREATE INDEX `evolution_approvals_status` ON `evolution_approvals` (`status`,`created_at`);--> statement-breakpoint
CREATE TABLE `evolution_candidates` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`agent_id` text NOT NULL,
	`generation` integer NOT NULL,
	`slot_index` integer NOT NULL,
	`genome_hash` text NOT NULL,
	`spec` text NOT NULL,
	`size_bytes` integer NOT NULL,
	`parents` text NOT NULL,
	`operator` text NOT NULL,
	`source_version` text,
	`status` text NOT NULL,
	`lease_until` integer,
	`train_score` real,
	`held_out_score` real,
	`score` real,
	`cost` real,
	`cases` text,
	`reused_from` text,
	`kept` integer,
	`reason` text,
	`gate` text,
	`version` text,
	`created_at` integer NOT NULL,
	`evaluated_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `evolution_candidates_slot` ON `evolution_candidates` (`run_id`,`generation`,`slot_index`);--> statement-breakpoint
CREATE INDEX `evolution_candidates_genome` ON `evolution_candidates` (`agent_id`,`genome_hash`);--> statement-breakpoint
CREATE INDEX `evolution_candidates_run` ON `evolution_candidates` (`run_id`,`generation`);--> statement-breakpoint
CREATE TABLE `evolution_generations` (
	`run_id` text NOT NULL,
	`generation` integer NOT NULL,
	`best` real NOT NULL,
	`median` real NOT NULL,
	`worst` real NOT NULL,
	`evaluated` integer NOT NULL,
	`survivors` text NOT NULL,
	`completed_at` integer NOT NULL,
	PRIMARY KEY(`run_id`, `generation`)
);
--> statement-breakpoint
CREATE TABLE `evolution_policies` (
	`agent_id` text PRIMARY KEY NOT NULL,
	`suite_id` text NOT NULL,
	`policy` text NOT NULL,
	`enabled` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`updated_by` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `evolution_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`agent_id` text NOT NULL,
	`slot` text NOT NULL,
	`trigger` text NOT NULL,
	`status` text NOT NULL,
	`seed` integer NOT NULL,
	`generation` integer NOT NULL,
	`generations` integer NOT NULL,
	`base_version` text NOT NULL,
	`suite_id` text NOT NULL,
	`policy` text NOT NULL,
	`evaluations_used` integer DEFAULT 0 NOT NULL,
	`tokens_used` integer DEFAULT 0 NOT NULL,
	`outcome` text,
	`error` text,
	`created_at` integer NOT NULL,
	`created_by` text NOT NULL,
	`finished_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `evolution_runs_slot` ON `evolution_runs` (`agent_id`,`slot`);--> statement-breakpoint
CREATE INDEX `evolution_runs_agent` ON `evolution_runs` (`agent_id`,`created_at`);