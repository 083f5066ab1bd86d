import type { Env } from "../env";
import { countMetric } from "../observability/record";
import type { DeadLetterDraft } from "./dead-letters";
import { envelopeSchema } from "./envelope";
import { publishEvent, SYSTEM_TOPIC } from "./events";

/** Published on topic `system` for every new dead letter; subscribers and the global stream see it. */
export const DEAD_LETTER_EVENT = "message.dead_lettered";

/**
 * The fan-out of a dead-letter event to a subscriber carries this prefix on its (clear) idempotency key,
 * so that delivery's own dead letter is counted but not announced again: a broken subscriber of these
 * events would otherwise feed itself an endless chain of them.
 */
export const ALERT_KEY_PREFIX = "dead-letter-alert:";

/** Only the fan-out makes messages to `subscription:` targets, so a client cannot mark its own messages this way. */
function isAlertDelivery(d: DeadLetterDraft): boolean {
  if (!d.target?.startsWith("subscription:")) return false;
  const envelope = envelopeSchema.partial().safeParse(d.envelope);
  return envelope.success && (envelope.data.idempotencyKey?.startsWith(ALERT_KEY_PREFIX) ?? false);
}

/** Every new dead letter is counted (tdev_dead_letters_total) and announced as an event; never throws. */
export async function alertDeadLetters(env: Env, drafts: readonly DeadLetterDraft[]): Promise<void> {
  for (const d of drafts) countMetric("tdev_dead_letters_total", { reason: d.reason, queue: d.queue });
  // The error text stays behind GET /dead-letters/{id} (scope squads:run); the event says where to look.
  await Promise.all(
    drafts
      .filter((d) => !isAlertDelivery(d))
      .map((d) => publishEvent(env, SYSTEM_TOPIC, DEAD_LETTER_EVENT, { id: d.id, reason: d.reason, queue: d.queue, target: d.target, kind: d.kind, attempts: d.attempts })),
  );
}
