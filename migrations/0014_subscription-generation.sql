-- Issue 13: consumers cache a topic's subscribers per isolate; they need to know when a subscription
-- changed anywhere. One tiny row counts every change to subscriptions; SQLite bumps it in the same
-- transaction as the change (triggers), so no writer (API, restore) can forget it.
CREATE TABLE `subscription_generation` (
	`id` integer PRIMARY KEY NOT NULL CHECK (`id` = 1),
	`generation` integer NOT NULL
);
--> statement-breakpoint
CREATE TRIGGER `subscription_generation_insert` AFTER INSERT ON `subscriptions` BEGIN
	INSERT INTO `subscription_generation` (`id`, `generation`) VALUES (1, 1) ON CONFLICT (`id`) DO UPDATE SET `generation` = `generation` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `subscription_generation_update` AFTER UPDATE ON `subscriptions` BEGIN
	INSERT INTO `subscription_generation` (`id`, `generation`) VALUES (1, 1) ON CONFLICT (`id`) DO UPDATE SET `generation` = `generation` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `subscription_generation_delete` AFTER DELETE ON `subscriptions` BEGIN
	INSERT INTO `subscription_generation` (`id`, `generation`) VALUES (1, 1) ON CONFLICT (`id`) DO UPDATE SET `generation` = `generation` + 1;
END;
