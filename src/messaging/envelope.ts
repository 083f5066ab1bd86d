import { z } from "@hono/zod-openapi";
import { decodeBase64, encodeBase64, isRecord, toHex } from "../encoding";
import { TRACE_ID_PATTERN } from "../observability/trace";

/**
 * The message envelope: cleartext metadata authenticated as AES-GCM additional data,
 * the payload encrypted under the current key of the MESSAGE_KEYS ring.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64");

export const KINDS = ["task", "run", "event", "delivery"] as const;
export type MessageKind = (typeof KINDS)[number];

export const envelopeSchema = z
  .object({
    v: z.literal(1),
    id: z.string().regex(/^msg_[0-9a-f]{28}$/),
    kind: z.enum(KINDS),
    priority: z.number().int().min(0).max(9),
    /** Address: `squad:<id>`, `agent:<ref>`, `topic:<name>` or `subscription:<id>`. */
    to: z.string().min(3).max(300),
    createdAt: z.number().int().nonnegative(),
    expiresAt: z.number().int().nonnegative().optional(),
    idempotencyKey: z.string().min(1).max(200).optional(),
    /** W3C trace id of the work that sent it; authenticated, so the consumer's effect joins that trace. */
    traceId: z.string().regex(TRACE_ID_PATTERN).optional(),
    kid: z.string().min(1).max(64),
    iv: base64.length(16),
    // Not matched against the base64 pattern here: open() decodes it strictly, which refuses the same texts.
    ciphertext: z.string().min(24).max(200_000),
  })
  .strict();

export type Envelope = z.infer<typeof envelopeSchema>;

/** The trace id a stored or refused envelope names, if well-formed: read loosely, for logs and views only. */
export const envelopeTraceId = (raw: unknown): string | null =>
  envelopeSchema.shape.traceId.safeParse(raw !== null && typeof raw === "object" ? (raw as { traceId?: unknown }).traceId : undefined).data ?? null;
export type EnvelopeMeta = Omit<Envelope, "kid" | "iv" | "ciphertext">;

/** What is encrypted: who sent it and what they sent. */
export interface Sealed {
  actor: string;
  payload: unknown;
}

export type RefusalReason = "malformed" | "unknown_key" | "tampered" | "expired";
export type Opened = { ok: true; envelope: Envelope; sealed: Sealed } | { ok: false; reason: RefusalReason; detail: string };

// ---- key ring ------------------------------------------------------------------

const keyRingSchema = z
  .array(z.object({ kid: z.string().min(1).max(64), key: base64 }).strict())
  .min(1)
  .refine((keys) => new Set(keys.map((k) => k.kid)).size === keys.length, "kids must be unique");

export interface KeyRing {
  current: { kid: string; key: CryptoKey };
  byKid: ReadonlyMap<string, CryptoKey>;
  /** HMAC keys that tag message ids (see issueMessageIds), derived from each ring key with HKDF; the current one last. */
  idKeys: readonly CryptoKey[];
}

export class KeyRingError extends Error {
  override readonly name = "KeyRingError";
}

const ringCache = new Map<string, Promise<KeyRing>>();

/** The refusal when MESSAGE_KEYS is unset, made once per isolate: callers such as system events meet it on every call. */
let unset: Promise<KeyRing> | undefined;

/** Parses MESSAGE_KEYS (`[{kid, key: base64 of 32 bytes}, …]`, last = current); cached per isolate by its text. */
export function keyRing(raw: string | undefined): Promise<KeyRing> {
  if (!raw) {
    if (!unset) {
      unset = Promise.reject(new KeyRingError("MESSAGE_KEYS is not set: messaging needs a key ring secret."));
      unset.catch(() => {}); // handled by each caller; not an unhandled rejection while none is waiting
    }
    return unset;
  }
  let ring = ringCache.get(raw);
  if (!ring) {
    ring = importRing(raw);
    ringCache.set(raw, ring);
    ring.catch(() => ringCache.delete(raw));
  }
  return ring;
}

async function importRing(raw: string): Promise<KeyRing> {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new KeyRingError("MESSAGE_KEYS is not JSON.");
  }
  const parsed = keyRingSchema.safeParse(json);
  if (!parsed.success) throw new KeyRingError(`MESSAGE_KEYS is invalid: ${parsed.error.issues[0]?.message ?? "bad shape"}.`);
  const byKid = new Map<string, CryptoKey>();
  const idKeys: CryptoKey[] = [];
  for (const { kid, key } of parsed.data) {
    const bytes = decodeBase64(key);
    if (bytes?.byteLength !== 32) throw new KeyRingError(`MESSAGE_KEYS key ${kid} must be base64 of exactly 32 bytes.`);
    byKid.set(kid, await crypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"]));
    idKeys.push(await deriveIdKey(bytes));
  }
  const last = parsed.data[parsed.data.length - 1]!;
  return { current: { kid: last.kid, key: byKid.get(last.kid)! }, byKid, idKeys };
}

// ---- message ids ----------------------------------------------------------------

const ID_INFO = new TextEncoder().encode("t-developer-edge message id v1");

/** A separate key per purpose: HKDF from the ring key, never the AES key itself. */
async function deriveIdKey(raw: Uint8Array): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: ID_INFO }, ikm, { name: "HMAC", hash: "SHA-256", length: 256 }, false, ["sign"]);
}

/** The HMAC over an id's first 24 characters (`msg_`, time, random part), as hex. */
const idMac = async (key: CryptoKey, prefix: string): Promise<string> => toHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(prefix)), 0, 4));

/** Largest batch one call issues ids for: a position is two hex digits. */
const MAX_IDS_PER_CALL = 256;

/**
 * Ids for `count` messages that the system can later recognise as its own without storing them: `msg_` + 12 hex ms +
 * 8 hex random + 2 hex position + 6 hex of an HMAC over the first three parts (`msg_`, time, random). One random
 * part and one HMAC per batch, not per message: sending stays one queue call, and GET /messages/{id} answers 404
 * for an id it never issued instead of "pending" forever. Positions start at a random byte, so two ids of the
 * same millisecond collide only if 32 random bits match and their positions meet (40 bits for single sends).
 */
export async function issueMessageIds(ring: KeyRing, now: number, count: number): Promise<string[]> {
  if (count > MAX_IDS_PER_CALL) throw new RangeError(`at most ${MAX_IDS_PER_CALL} message ids per call`);
  const random = crypto.getRandomValues(new Uint8Array(5));
  const prefix = `msg_${now.toString(16).padStart(12, "0")}${toHex(random.subarray(0, 4))}`;
  const tag = (await idMac(ring.idKeys[ring.idKeys.length - 1]!, prefix)).slice(0, 6);
  const start = random[4]!;
  return Array.from({ length: count }, (_, i) => `${prefix}${toHex(new Uint8Array([(start + i) & 0xff]))}${tag}`);
}

/**
 * Whether any key in the ring issued this id (a key retired from the ring takes its ids' recognition with it). Ids
 * issued one at a time before batches (`msg_` + 12 hex ms + 8 hex random + 8 hex HMAC) carry the same HMAC in full.
 */
export async function issuedMessageId(ring: KeyRing, id: string): Promise<boolean> {
  if (!/^msg_[0-9a-f]{28}$/.test(id)) return false;
  const prefix = id.slice(0, 24);
  for (const key of ring.idKeys) {
    const mac = await idMac(key, prefix);
    const batched = crypto.subtle.timingSafeEqual(encoder.encode(mac.slice(0, 6)), encoder.encode(id.slice(26)));
    const single = crypto.subtle.timingSafeEqual(encoder.encode(mac), encoder.encode(id.slice(24)));
    if (batched || single) return true;
  }
  return false;
}

// ---- seal / open ---------------------------------------------------------------

/**
 * The additional data: every cleartext field except the GCM inputs themselves, as canonical JSON (keys sorted,
 * undefined fields dropped, so envelopes sealed before traceId existed still authenticate). The fields are
 * scalars in a fixed set, so listing them in sorted order gives canonicalJson's bytes without its general walk.
 */
export function additionalData(e: EnvelopeMeta & { kid: string }): Uint8Array {
  const { createdAt, expiresAt, id, idempotencyKey, kid, kind, priority, to, traceId, v } = e;
  return encoder.encode(JSON.stringify({ createdAt, expiresAt, id, idempotencyKey, kid, kind, priority, to, traceId, v }));
}

export async function seal(ring: KeyRing, meta: EnvelopeMeta, sealed: Sealed): Promise<Envelope> {
  return (await sealMeasured(ring, meta, sealed)).envelope;
}

/**
 * seal, and the envelope's size as JSON in UTF-8 without writing it out: the additional data is every other
 * field, as JSON, so the envelope adds only `,"iv":"…"` and `,"ciphertext":"…"` (base64, one byte a character).
 */
export async function sealMeasured(ring: KeyRing, meta: EnvelopeMeta, sealed: Sealed): Promise<{ envelope: Envelope; bytes: number }> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const { kid, key } = ring.current;
  const aad = additionalData({ ...meta, kid });
  const ciphertext = encodeBase64(new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, key, encoder.encode(JSON.stringify(sealed)))));
  const envelope = { ...meta, kid, iv: encodeBase64(iv), ciphertext };
  return { envelope, bytes: aad.byteLength + ENVELOPE_EXTRA_BYTES + envelope.iv.length + ciphertext.length };
}

/** `,"iv":""` and `,"ciphertext":""`. */
const ENVELOPE_EXTRA_BYTES = 8 + 16;

/** The envelope's fields, from its schema: anything else on a queue body is not an envelope. */
const ENVELOPE_KEYS = new Set(Object.keys(envelopeSchema.shape));

/**
 * What may be an envelope: a record of the envelope's keys only, with string GCM inputs under a key of the ring.
 * Its other fields are not checked here: they are the additional data, so only an envelope sealed with them decrypts.
 */
function candidate(ring: KeyRing, raw: unknown): { fields: Envelope; key: CryptoKey } | null {
  if (!isRecord(raw)) return null;
  for (const name in raw) if (!ENVELOPE_KEYS.has(name)) return null;
  const fields = raw as Envelope;
  if (typeof fields.kid !== "string" || typeof fields.iv !== "string" || typeof fields.ciphertext !== "string") return null;
  const key = ring.byKid.get(fields.kid);
  return key ? { fields, key } : null;
}

/** The plaintext, or why there is none: GCM inputs that are not canonical base64, or a failed authentication. */
async function decrypt(key: CryptoKey, e: Envelope): Promise<ArrayBuffer | "bad_base64" | "tampered"> {
  const iv = decodeBase64(e.iv);
  const ciphertext = decodeBase64(e.ciphertext);
  if (iv?.byteLength !== 12 || !ciphertext) return "bad_base64";
  try {
    return await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: additionalData(e) }, key, ciphertext);
  } catch {
    return "tampered";
  }
}

/**
 * Authenticates and decrypts an envelope; anything short of that is refused with a reason. Authentication comes
 * first: the additional data covers every metadata field, so an envelope that decrypts carries exactly what our
 * producer sealed, and walking the schema over it (a third of opening it, in zod without code generation) would
 * only repeat the producer's own checks. The schema names what is wrong with an envelope that does not decrypt.
 */
export async function open(ring: KeyRing, raw: unknown, now = Date.now()): Promise<Opened> {
  const found = candidate(ring, raw);
  if (!found) return refusal(ring, raw);
  const plain = await decrypt(found.key, found.fields);
  if (typeof plain === "string") return refusal(ring, raw, plain);
  const { v, id, kind, priority, to, createdAt, expiresAt, idempotencyKey, traceId, kid, iv, ciphertext } = found.fields;
  // The fields the schema would give, and no others (absent optional ones stay absent).
  const envelope: Envelope = { v, id, kind, priority, to, createdAt, kid, iv, ciphertext };
  if (expiresAt !== undefined) envelope.expiresAt = expiresAt;
  if (idempotencyKey !== undefined) envelope.idempotencyKey = idempotencyKey;
  if (traceId !== undefined) envelope.traceId = traceId;
  const sealed = readSealed(safeJson(plain));
  // Authenticated but unreadable can only come from a producer bug; refuse it all the same.
  if (!sealed) return { ok: false, reason: "malformed", detail: "sealed content is not {actor, payload}" };
  if (envelope.expiresAt !== undefined && envelope.expiresAt <= now) {
    return { ok: false, reason: "expired", detail: `expired at ${new Date(envelope.expiresAt).toISOString()}` };
  }
  return { ok: true, envelope, sealed };
}

/**
 * Why an envelope did not open: not an envelope by the schema, a key the ring lacks, or (for one that went as far as
 * decryption) non-canonical base64 or an altered field. The schema comes first, so a malformed field is named as such.
 */
function refusal(ring: KeyRing, raw: unknown, decryption?: "bad_base64" | "tampered"): Opened & { ok: false } {
  const parsed = envelopeSchema.safeParse(raw);
  if (!parsed.success)
    return { ok: false, reason: "malformed", detail: `envelope: ${parsed.error.issues[0]?.path.join(".") || "body"} ${parsed.error.issues[0]?.message ?? ""}`.trim() };
  if (!ring.byKid.has(parsed.data.kid)) return { ok: false, reason: "unknown_key", detail: `no key with kid ${parsed.data.kid} in MESSAGE_KEYS` };
  // A schema-valid envelope under a known kid is a candidate, so it reached decryption.
  if (decryption === "bad_base64") return { ok: false, reason: "malformed", detail: "iv or ciphertext is not canonical base64" };
  return { ok: false, reason: "tampered", detail: "authentication failed: metadata, iv or ciphertext was altered" };
}

export const sealedSchema = z.object({ actor: z.string(), payload: z.unknown() });

/** Sealed content as sealedSchema reads it (extra keys dropped), or null. What seal() wrote is recognised without walking the schema. */
export function readSealed(value: unknown): Sealed | null {
  if (isRecord(value) && typeof value.actor === "string" && "payload" in value) return { actor: value.actor, payload: value.payload };
  const parsed = sealedSchema.safeParse(value);
  return parsed.success ? (parsed.data as Sealed) : null;
}

function safeJson(bytes: ArrayBuffer): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
}

// ---- small secrets at rest (webhook signing secrets) -------------------------------

/** Seals a short secret under the current key as `kid.iv.ciphertext`, bound to `context` (e.g. the subscription id). */
export async function sealSecret(ring: KeyRing, secret: string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const { kid, key } = ring.current;
  const data = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: encoder.encode(context) }, key, encoder.encode(secret));
  return [kid, encodeBase64(iv), encodeBase64(new Uint8Array(data))].join(".");
}

export async function openSecret(ring: KeyRing, sealed: string, context: string): Promise<string> {
  const [kid, iv, data] = sealed.split(".");
  const key = kid ? ring.byKid.get(kid) : undefined;
  const ivBytes = iv ? decodeBase64(iv) : null;
  const dataBytes = data ? decodeBase64(data) : null;
  if (!key || !ivBytes || !dataBytes) throw new KeyRingError(`sealed secret uses an unknown key or is malformed (kid ${kid ?? "?"})`);
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: ivBytes, additionalData: encoder.encode(context) }, key, dataBytes);
  return new TextDecoder().decode(plain);
}

export { decodeBase64, encodeBase64 };
