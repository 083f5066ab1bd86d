/** While dispatching, an alarm this far ahead (refreshed as the loop turns) revives the squad if it dies. */
export const WATCHDOG_MS = 60_000;

/**
 * How long after its n-th consecutive failure the dispatch alarm tries again: 1 s doubling, capped at the
 * watchdog interval. The squad retries on its own clock because Cloudflare retries a throwing alarm at
 * most 6 times and then drops it.
 */
export const alarmRetryDelay = (failures: number) => Math.min(1_000 * 2 ** Math.max(0, failures - 1), WATCHDOG_MS);
