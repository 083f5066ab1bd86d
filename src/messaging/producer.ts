import { z } from "@hono/zod-openapi";
import { isRecord } from "../encoding";
import type { Env } from "../env";
import { AppError } from "../errors";
import { currentTraceId } from "../observability/context";
import { type Band, bandOf, formatTarget, kindFor, parseTarget, queueFor, type Target } from "./address";
import { noteSent } from "./backlog";
import { type Envelope, type EnvelopeMeta, issueMessageIds, type KeyRing, keyRing, KeyRingError, sealMeasured } from "./envelope";

/** Most times a message may be put back untried; a body counting more is not ours. */
const MAX_DEFERRALS = 1000;

/** What travels on a band queue: the envelope plus delivery bookkeeping that is not part of the message. */
export const queueBodySchema = z
  .object({
    v: z.literal(1),
    envelope: z.unknown(),
    /** Times a consumer put this message back without trying it (yielding to a higher band, open breaker). */
    deferrals: z.number().int().min(0).max(MAX_DEFERRALS).default(0),
  })
  .strict();
export type QueueBody = z.input<typeof queueBodySchema>;
type ReadQueueBody = z.output<typeof queueBodySchema>;

const QUEUE_BODY_KEYS: ReadonlySet<string> = new Set(Object.keys(queueBodySchema.shape));

/**
 * A queue body as queueBodySchema reads it, or null where the schema refuses it. The body our producer writes is
 * recognised without zod, which cannot generate code in workerd and walks its schema for every message of a
 * batch; anything else (a missing field, a stray key, a bad count) goes through the schema.
 */
export function readQueueBody(raw: unknown): ReadQueueBody | null {
  if (isRecord(raw)) {
    const { deferrals } = raw;
    const countable = deferrals === undefined || (Number.isSafeInteger(deferrals) && (deferrals as number) >= 0 && (deferrals as number) <= MAX_DEFERRALS);
    if (raw.v === 1 && "envelope" in raw && countable && Object.keys(raw).every((k) => QUEUE_BODY_KEYS.has(k))) {
      return { v: 1, envelope: raw.envelope, deferrals: (deferrals as number | undefined) ?? 0 };
    }
  }
  const parsed = queueBodySchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

export interface MessageDraft {
  to: Target;
  priority: number;
  payload: unknown;
  /** Principal id of whoever asked for the message; the consumer acts as them. */
  actor: string;
  idempotencyKey?: string;
  expiresInMs?: number;
  /** The trace the message belongs to; by default the trace of the work sending it. */
  traceId?: string;
}

/** Largest batch Queues accepts in one sendBatch. */
export const MAX_BATCH = 100;

/** Queues takes messages up to 128 KB; leave room for the envelope's metadata and the queue's own. */
export const MAX_ENVELOPE_BYTES = 120_000;

export async function sealDraft(env: Env, draft: MessageDraft, now = Date.now()): Promise<Envelope> {
  const ring = await ringOf(env);
  const [id] = await issueMessageIds(ring, now, 1);
  return sealWith(ring, draft, id!, now);
}

/** The key ring, or the refusal callers answer when messaging has none. */
function ringOf(env: Env): Promise<KeyRing> {
  return keyRing(env.MESSAGE_KEYS).catch((e: unknown) => {
    throw e instanceof KeyRingError ? new AppError("messaging_not_configured", e.message) : e;
  });
}

async function sealWith(ring: KeyRing, draft: MessageDraft, id: string, now: number): Promise<Envelope> {
  const to = formatTarget(draft.to);
  const meta: EnvelopeMeta = { v: 1, id, kind: kindFor[parseTarget(to)!.type], priority: draft.priority, to, createdAt: now };
  // Absent fields are left out rather than set to undefined: every key rides through the queue's serializer and the consumer's parse.
  if (draft.expiresInMs !== undefined) meta.expiresAt = now + draft.expiresInMs;
  if (draft.idempotencyKey !== undefined) meta.idempotencyKey = draft.idempotencyKey;
  const traceId = draft.traceId ?? currentTraceId();
  if (traceId !== undefined) meta.traceId = traceId;
  const { envelope, bytes } = await sealMeasured(ring, meta, { actor: draft.actor, payload: draft.payload });
  if (bytes > MAX_ENVELOPE_BYTES) {
    throw new AppError("payload_too_large", `A sealed message may be at most ${MAX_ENVELOPE_BYTES} bytes; this one is ${bytes}.`, { limitBytes: MAX_ENVELOPE_BYTES });
  }
  return envelope;
}

/** The one producer path (API and internal callers): seals each draft and sends it to its band's queue. */
export async function sendMessages(env: Env, drafts: readonly MessageDraft[]): Promise<string[]> {
  if (drafts.length > MAX_BATCH) throw new AppError("bad_request", `At most ${MAX_BATCH} messages per batch.`);
  if (drafts.length === 0) return [];
  // One ring and one clock for the batch (workerd's clock stands still while code runs anyway).
  const ring = await ringOf(env);
  const now = Date.now();
  const ids = await issueMessageIds(ring, now, drafts.length);
  const envelopes = await Promise.all(drafts.map((d, i) => sealWith(ring, d, ids[i]!, now)));
  await enqueueEnvelopes(env, envelopes);
  return envelopes.map((e) => e.id);
}

export async function sendMessage(env: Env, draft: MessageDraft): Promise<string> {
  const [id] = await sendMessages(env, [draft]);
  return id!;
}

/** Sends already-sealed envelopes (replays, fan-out), grouped by band, one sendBatch per band. */
export async function enqueueEnvelopes(env: Env, envelopes: readonly { priority: number }[], opts: { delaySeconds?: number; deferrals?: number } = {}) {
  const byBand = new Map<Band, MessageSendRequest<QueueBody>[]>();
  for (const envelope of envelopes) {
    const band = bandOf(envelope.priority);
    const list = byBand.get(band) ?? [];
    list.push({ body: { v: 1, envelope, deferrals: opts.deferrals ?? 0 }, delaySeconds: opts.delaySeconds });
    byBand.set(band, list);
  }
  await Promise.all(
    [...byBand].map(async ([band, messages]) => {
      await queueFor(env, band).sendBatch(messages);
      if (!opts.delaySeconds) noteSent(band, messages.length);
    }),
  );
}
