import type { Env } from "../env";
import { type Band, bandOfQueue, DEAD_LETTER_QUEUE, queueFor } from "./address";
import { higherBandsBusy, noteBacklog } from "./backlog";
import { alertDeadLetters } from "./dead-letter-alert";
import { type DeadLetterDraft, recordDeadLetters, storeDeadLetterBatch } from "./dead-letters";
import { deliver as defaultDeliver, type Deliver, type Delivery, type EffectResult, needsClaim } from "./deliver";
import { envelopeSchema, envelopeTraceId, type KeyRing, keyRing, open } from "./envelope";
import { circuitDelaySeconds, MAX_CIRCUIT_DEFERRALS, MAX_YIELDS, priorityLevels, retryBase, retryDelaySeconds } from "./policy";
import { type QueueBody, readQueueBody } from "./producer";
import { continueTrace } from "../observability/context";
import { log } from "../observability/log";
import { countMetric } from "../observability/record";
import { claimAll, dedupKeyOf, type Settlement, settleAll } from "./receipts";

/** The Worker's `queue` handler: band queues run effects, the dead-letter queue stores what is left. */
export async function handleQueue(batch: MessageBatch<unknown>, env: Env, _ctx: ExecutionContext, deliver: Deliver = defaultDeliver): Promise<void> {
  if (batch.queue === DEAD_LETTER_QUEUE) return storeDeadLetterBatch(batch, env);
  const band = bandOfQueue(batch.queue);
  if (!band) {
    console.error(JSON.stringify({ at: "handleQueue", error: `no consumer for queue ${batch.queue}` }));
    batch.retryAll({ delaySeconds: 60 });
    return;
  }
  // The batch says how much its queue holds behind it: a lower band's consumer in this isolate need not ask.
  const backlog = batch.metadata?.metrics?.backlogCount;
  if (typeof backlog === "number") noteBacklog(band, backlog);
  await consumeBand(batch, env, band, deliver);
}

interface Item {
  message: Message<unknown>;
  body: { v: 1; envelope: unknown; deferrals: number };
}

interface Ready extends Delivery {
  message: Message<unknown>;
  deferrals: number;
  priority: number;
  createdAt: number;
  id: string;
  /** The claim this attempt holds once claimed; null for an effect that takes none (needsClaim). */
  token: string | null;
}

async function consumeBand(batch: MessageBatch<unknown>, env: Env, band: Band, deliver: Deliver): Promise<void> {
  const now = Date.now();
  let ring: KeyRing;
  try {
    ring = await keyRing(env.MESSAGE_KEYS);
  } catch (error) {
    // Nothing can be opened without keys: put everything back (it dead-letters if never fixed).
    console.error(JSON.stringify({ at: "consumeBand", queue: batch.queue, error: String(error) }));
    batch.retryAll({ delaySeconds: 60 });
    return;
  }
  const dead: DeadLetterDraft[] = [];
  const deadMessages: Message<unknown>[] = [];
  const refuse = (message: Message<unknown>, draft: Omit<DeadLetterDraft, "queue" | "attempts">) => {
    dead.push({ ...draft, attempts: message.attempts, queue: batch.queue });
    deadMessages.push(message);
  };

  // 1. Bodies: anything that is not our shape is refused at once, without burning retries.
  const items: Item[] = [];
  for (const message of batch.messages) {
    const body = readQueueBody(message.body);
    if (body) items.push({ message, body });
    else
      refuse(message, {
        ...unauthenticated(message.body, `qm_${message.id}`),
        reason: "malformed",
        firstError: "queue body is not {v:1, envelope}",
        lastError: "queue body is not {v:1, envelope}",
      });
  }

  // 2. Lower bands let higher bands with a backlog go first (at most MAX_YIELDS times per message).
  // 3. Authenticate and decrypt, while the higher bands' backlog is asked for: the answer is a round trip,
  //    and a batch that yields (rarely) has only spent its decryption.
  const mayYield = (i: Item) => i.body.deferrals < MAX_YIELDS;
  const yielding = items.filter(mayYield);
  const [busy, opened] = await Promise.all([yielding.length > 0 ? higherBandsBusy(env, band) : false, Promise.all(items.map((i) => open(ring, i.body.envelope, now)))]);
  const yielded = busy && (await resend(env, band, yielding, 1));
  if (yielded) for (const i of yielding) i.message.ack();
  const ready: Ready[] = [];
  const shared = new Map<string, Promise<unknown>>();
  items.forEach((item, k) => {
    if (yielded && mayYield(item)) return; // re-sent behind the higher bands
    const result = opened[k]!;
    if (result.ok) {
      const e = result.envelope;
      ready.push({
        message: item.message,
        deferrals: item.body.deferrals,
        envelope: e,
        sealed: result.sealed,
        dedupKey: dedupKeyOf(e),
        shared,
        priority: e.priority,
        createdAt: e.createdAt,
        id: e.id,
        token: null,
      });
    } else {
      // An expired envelope authenticated, so its id is trustworthy; refused ones keep the queue's id.
      const fallback = result.reason === "expired" ? undefined : `qm_${item.message.id}`;
      refuse(item.message, { ...unauthenticated(item.body.envelope, fallback), reason: result.reason, firstError: result.detail, lastError: result.detail });
    }
  });

  // 4. Claim the dedup keys of effects that need one (one call per receipt shard, in parallel); duplicates are
  //    acknowledged without an effect. The rest (topic fan-outs) go ahead unclaimed.
  const claiming: Ready[] = [];
  const runnable: Ready[] = [];
  for (const r of ready) (needsClaim(r.envelope.to) ? claiming : runnable).push(r);
  const claims = claiming.length ? await claimAll(env.RECEIPTS, claiming.map(claimRequest), now) : [];
  claiming.forEach((r, i) => {
    const claim = claims[i]!;
    if (claim.state === "claimed") {
      r.token = claim.token;
      runnable.push(r);
    } else if (claim.state === "duplicate") r.message.ack();
    else r.message.retry({ delaySeconds: Math.ceil(claim.retryInMs / 1000) });
  });

  // 5. Effects, highest priority level first; one level runs concurrently.
  const results = new Map<Ready, EffectResult>();
  for (const level of priorityLevels(runnable)) {
    const outcomes = await Promise.all(level.map((r) => deliverInTrace(env, r, deliver)));
    level.forEach((r, i) => {
      results.set(r, outcomes[i]!);
    });
  }

  // 6. Record how each ended, then acknowledge or retry.
  const settlements: Settlement[] = [];
  const deferred: Ready[] = [];
  const retries: { message: Message<unknown>; delaySeconds: number }[] = [];
  const acks: Message<unknown>[] = [];
  const base = retryBase(env.MESSAGE_RETRY_BASE_SECONDS);
  for (const r of runnable) {
    const result = results.get(r)!;
    const key = r.token === null ? { messageId: r.id, target: r.envelope.to, token: null } : { dedupKey: r.dedupKey, token: r.token };
    if (result.ok) {
      settlements.push({ ...key, outcome: "done" });
      acks.push(r.message);
    } else if (result.circuitOpen && r.deferrals < MAX_CIRCUIT_DEFERRALS) {
      settlements.push({ ...key, outcome: "released" });
      deferred.push(r);
    } else if (result.retry) {
      settlements.push({ ...key, outcome: "failed", error: result.error });
      retries.push({ message: r.message, delaySeconds: retryDelaySeconds(r.message.attempts, base) });
    } else {
      settlements.push({ ...key, outcome: "failed", error: result.error });
      refuse(r.message, {
        id: r.id,
        target: r.envelope.to,
        kind: r.envelope.kind,
        priority: r.priority,
        envelope: r.envelope,
        reason: "rejected",
        firstError: result.error,
        lastError: result.error,
      });
    }
  }
  // Settlements (receipt shards) and dead letters (D1), side by side.
  if (!(await recordOutcomes(env, settlements, dead))) {
    // The effects happened but their receipts could not be marked done. Throwing would bring the whole batch
    // back and, once the claims' lease lapsed, run those effects again: acknowledge what took effect, and let
    // everything else (failures, refusals, deferrals) come back to be decided again.
    log.error("messages.outcomes_unrecorded", { band, delivered: acks.length, returned: batch.messages.length - acks.length });
    for (const m of acks) m.ack();
    for (const m of [...deadMessages, ...retries.map((r) => r.message), ...deferred.map((r) => r.message)]) m.retry({ delaySeconds: retryDelaySeconds(m.attempts, base) });
    return;
  }
  await alertDeadLetters(env, dead);
  for (const d of dead) log.warn("message.dead_lettered", { traceId: envelopeTraceId(d.envelope), messageId: d.id, target: d.target, reason: d.reason, error: d.lastError });
  const outcomes = { delivered: acks.length, retried: retries.length, deferred: deferred.length, dead_lettered: dead.length };
  for (const [outcome, n] of Object.entries(outcomes)) if (n > 0) countMetric("tdev_messages_total", { band, outcome }, n);
  for (const m of deadMessages) m.ack();
  for (const m of acks) m.ack();
  for (const { message, delaySeconds } of retries) message.retry({ delaySeconds });
  // An open breaker is not the message's fault: re-send it later (a fresh delivery does not count as
  // a Queues attempt) instead of retry(), which would count towards max_retries.
  for (const r of deferred) {
    const sent = await resend(env, band, [{ message: r.message, body: { v: 1, envelope: r.envelope, deferrals: r.deferrals } }], circuitDelaySeconds(r.deferrals, base));
    if (sent) r.message.ack();
    else r.message.retry({ delaySeconds: circuitDelaySeconds(r.deferrals, base) });
  }
}

const claimRequest = (r: Ready) => ({ dedupKey: r.dedupKey, messageId: r.id, target: r.envelope.to });

/** Attempts of each write recording how a batch ended, a moment apart: a hiccup must not undo a batch's effects. */
const OUTCOME_WRITE_ATTEMPTS = 3;

async function recordOutcomes(env: Env, settlements: readonly Settlement[], dead: readonly DeadLetterDraft[]): Promise<boolean> {
  const [settled, stored] = await Promise.all([
    settlements.length ? persistently("settlements", () => settleAll(env.RECEIPTS, settlements)) : true,
    dead.length ? persistently("dead_letters", () => recordDeadLetters(env.DB, dead)) : true,
  ]);
  return settled && stored;
}

/** Runs an idempotent write up to OUTCOME_WRITE_ATTEMPTS times; false if it never succeeded. */
async function persistently(what: string, write: () => Promise<void>): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await write();
      return true;
    } catch (error) {
      log.warn("messages.outcomes_write_failed", { what, attempt, error });
      if (attempt >= OUTCOME_WRITE_ATTEMPTS) return false;
      await new Promise((resolve) => setTimeout(resolve, 50 * 4 ** (attempt - 1)));
    }
  }
}

/** One effect inside its message's trace, so the runs, tasks and messages it causes carry the sender's traceId; a throw is a retryable failure. */
function deliverInTrace(env: Env, r: Ready, deliver: Deliver): Promise<EffectResult> {
  return continueTrace(r.envelope.traceId, async () => {
    let result: EffectResult;
    try {
      result = await deliver(env, r);
    } catch (e) {
      result = { ok: false, retry: true, error: String(e) };
    }
    if (!result.ok) log.warn("message.effect_failed", { messageId: r.id, target: r.envelope.to, attempt: r.message.attempts, retry: result.retry, error: result.error });
    return result;
  });
}

/** Metadata of an envelope that did not authenticate: shown for inspection, trusted for nothing. */
function unauthenticated(raw: unknown, fallbackId: string | undefined): Pick<DeadLetterDraft, "id" | "target" | "kind" | "priority" | "envelope"> {
  const loose = envelopeSchema.partial().safeParse(raw);
  const e = loose.success ? loose.data : {};
  return { id: fallbackId ?? e.id ?? "unknown", target: e.to ?? null, kind: e.kind ?? null, priority: e.priority ?? null, envelope: raw };
}

/** Puts messages back on their band with one more deferral; false if the send failed. */
async function resend(env: Env, band: Band, items: readonly Pick<Item, "message" | "body">[], delaySeconds: number): Promise<boolean> {
  const messages: MessageSendRequest<QueueBody>[] = items.map((i) => ({ body: { v: 1, envelope: i.body.envelope, deferrals: i.body.deferrals + 1 }, delaySeconds }));
  try {
    await queueFor(env, band).sendBatch(messages);
    return true;
  } catch (error) {
    console.error(JSON.stringify({ at: "resend", band, error: String(error) }));
    return false;
  }
}
