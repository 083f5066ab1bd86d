-- Evolution runs are Cloudflare Workflow instances: the platform checkpoints and retries each step,
-- so candidates need no lease. Runs keep the adaptive search's state and what screening saved.
ALTER TABLE `evolution_candidates` DROP COLUMN `lease_until`;--> statement-breakpoint
ALTER TABLE `evolution_runs` ADD `search_state` text;--> statement-breakpoint
ALTER TABLE `evolution_runs` ADD `screened_out` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `evolution_runs` ADD `evaluations_saved` integer DEFAULT 0 NOT NULL;
