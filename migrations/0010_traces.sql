-- Traces: every run carries the W3C trace id of the request (or task, message, workflow step) that caused it,
-- so GET /api/v1/runs?traceId= finds everything one request did.
ALTER TABLE `runs` ADD `trace_id` text;--> statement-breakpoint
CREATE INDEX `runs_by_trace` ON `runs` (`trace_id`,`started_at`,`id`);
