-- Traces reach evolution: a run records the W3C trace id of the request (or cron tick) that started it,
-- its candidates are shown under it, and its Workflow's steps run inside it (runs and Bedrock logs carry it).
ALTER TABLE `evolution_runs` ADD `trace_id` text;--> statement-breakpoint
CREATE INDEX `evolution_runs_by_trace` ON `evolution_runs` (`trace_id`);
