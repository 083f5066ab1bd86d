CREATE TABLE `dead_letters` (
	`id` text PRIMARY KEY NOT NULL,
	`reason` text NOT NULL,
	`attempts` integer NOT NULL,
	`first_error` text,
	`last_error` text,
	`target` text,
	`kind` text,
	`priority` integer,
	`envelope` text NOT NULL,
	`queue` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`replayed_at` integer,
	`replay_count` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `dead_letters_order` ON `dead_letters` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `dead_letters_reason` ON `dead_letters` (`reason`,`created_at`);--> statement-breakpoint
CREATE INDEX `dead_letters_target` ON `dead_letters` (`target`,`created_at`);--> statement-breakpoint
CREATE TABLE `message_receipts` (
	`dedup_key` text PRIMARY KEY NOT NULL,
	`message_id` text NOT NULL,
	`target` text NOT NULL,
	`status` text NOT NULL,
	`claim_token` text NOT NULL,
	`claimed_at` integer NOT NULL,
	`attempts` integer DEFAULT 1 NOT NULL,
	`first_error` text,
	`last_error` text,
	`done_at` integer,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `message_receipts_message` ON `message_receipts` (`message_id`);--> statement-breakpoint
CREATE INDEX `message_receipts_updated` ON `message_receipts` (`updated_at`);--> statement-breakpoint
CREATE TABLE `subscriptions` (
	`id` text PRIMARY KEY NOT NULL,
	`topic` text NOT NULL,
	`type` text NOT NULL,
	`target` text NOT NULL,
	`event_types` text NOT NULL,
	`sealed_secret` text,
	`task_template` text,
	`created_at` integer NOT NULL,
	`created_by` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `subscriptions_unique` ON `subscriptions` (`topic`,`type`,`target`);--> statement-breakpoint
CREATE INDEX `subscriptions_topic` ON `subscriptions` (`topic`,`created_at`,`id`);