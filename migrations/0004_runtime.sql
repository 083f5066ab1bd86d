CREATE TABLE `runs` (
	`id` text PRIMARY KEY NOT NULL,
	`agent_id` text,
	`agent_name` text NOT NULL,
	`version` text NOT NULL,
	`kind` text NOT NULL,
	`content_hash` text NOT NULL,
	`actor` text NOT NULL,
	`source` text NOT NULL,
	`session_id` text,
	`status` text NOT NULL,
	`input` text,
	`output` text,
	`error_code` text,
	`error_type` text,
	`error_detail` text,
	`limit_violation` integer DEFAULT false NOT NULL,
	`model_id` text,
	`stop_reason` text,
	`input_tokens` integer,
	`output_tokens` integer,
	`total_tokens` integer,
	`logs` text,
	`started_at` integer NOT NULL,
	`finished_at` integer NOT NULL,
	`duration_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `runs_by_agent` ON `runs` (`agent_name`,`started_at`,`id`);--> statement-breakpoint
CREATE INDEX `runs_by_time` ON `runs` (`started_at`,`id`);