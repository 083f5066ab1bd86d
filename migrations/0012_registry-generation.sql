-- Issue 13: resolution caches in every isolate need to know when a name or channel changed anywhere.
-- One tiny row counts every change to agents, agent versions and channels; SQLite bumps it in the
-- same transaction as the change (triggers), so no writer can forget, and isolates read it cheaply.
CREATE TABLE `registry_generation` (
	`id` integer PRIMARY KEY NOT NULL CHECK (`id` = 1),
	`generation` integer NOT NULL
);
--> statement-breakpoint
CREATE TRIGGER `registry_generation_agents_insert` AFTER INSERT ON `agents` BEGIN
	INSERT INTO `registry_generation` (`id`, `generation`) VALUES (1, 1) ON CONFLICT (`id`) DO UPDATE SET `generation` = `generation` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `registry_generation_agents_update` AFTER UPDATE ON `agents` BEGIN
	INSERT INTO `registry_generation` (`id`, `generation`) VALUES (1, 1) ON CONFLICT (`id`) DO UPDATE SET `generation` = `generation` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `registry_generation_agents_delete` AFTER DELETE ON `agents` BEGIN
	INSERT INTO `registry_generation` (`id`, `generation`) VALUES (1, 1) ON CONFLICT (`id`) DO UPDATE SET `generation` = `generation` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `registry_generation_versions_insert` AFTER INSERT ON `agent_versions` BEGIN
	INSERT INTO `registry_generation` (`id`, `generation`) VALUES (1, 1) ON CONFLICT (`id`) DO UPDATE SET `generation` = `generation` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `registry_generation_versions_delete` AFTER DELETE ON `agent_versions` BEGIN
	INSERT INTO `registry_generation` (`id`, `generation`) VALUES (1, 1) ON CONFLICT (`id`) DO UPDATE SET `generation` = `generation` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `registry_generation_channels_insert` AFTER INSERT ON `channels` BEGIN
	INSERT INTO `registry_generation` (`id`, `generation`) VALUES (1, 1) ON CONFLICT (`id`) DO UPDATE SET `generation` = `generation` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `registry_generation_channels_update` AFTER UPDATE ON `channels` BEGIN
	INSERT INTO `registry_generation` (`id`, `generation`) VALUES (1, 1) ON CONFLICT (`id`) DO UPDATE SET `generation` = `generation` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `registry_generation_channels_delete` AFTER DELETE ON `channels` BEGIN
	INSERT INTO `registry_generation` (`id`, `generation`) VALUES (1, 1) ON CONFLICT (`id`) DO UPDATE SET `generation` = `generation` + 1;
END;
