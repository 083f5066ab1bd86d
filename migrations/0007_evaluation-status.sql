ALTER TABLE `evaluations` ADD `status` text DEFAULT 'completed' NOT NULL;--> statement-breakpoint
ALTER TABLE `evaluations` ADD `error` text;