import { describe, expect, it } from "vitest";
import {
  additionalData,
  encodeBase64,
  type EnvelopeMeta,
  issuedMessageId,
  issueMessageIds,
  keyRing,
  open,
  openSecret,
  seal,
  sealMeasured,
  sealSecret,
} from "../src/messaging/envelope";
import { canonicalJson } from "../src/registry/canonical";

const keyOf = (fill: number) => encodeBase64(new Uint8Array(32).fill(fill));
const ringText = (...keys: [string, number][]) => JSON.stringify(keys.map(([kid, fill]) => ({ kid, key: keyOf(fill) })));

const meta = (over: Partial<EnvelopeMeta> = {}): EnvelopeMeta => ({
  v: 1,
  id: "msg_0190000000001234567890abcdef",
  kind: "run",
  priority: 5,
  to: "agent:echo",
  createdAt: 1_700_000_000_000,
  idempotencyKey: "order-42",
  ...over,
});

describe("message envelope", () => {
  it("round-trips: payload and actor come back, metadata stays in clear, payload does not", async () => {
    const ring = await keyRing(ringText(["k1", 1]));
    const envelope = await seal(ring, meta(), { actor: "key:abc", payload: { secret: "the launch code" } });
    expect(envelope).toMatchObject({ v: 1, kid: "k1", priority: 5, to: "agent:echo", idempotencyKey: "order-42" });
    expect(JSON.stringify(envelope)).not.toContain("launch code");
    const opened = await open(ring, envelope, 1_700_000_000_001);
    expect(opened).toEqual({ ok: true, envelope, sealed: { actor: "key:abc", payload: { secret: "the launch code" } } });
  });

  it("authenticates the metadata as its canonical JSON, byte for byte, with and without optional fields", () => {
    const decoder = new TextDecoder();
    for (const m of [
      meta(),
      meta({ idempotencyKey: undefined }),
      meta({ expiresAt: 1_700_000_060_000, traceId: "0af7651916cd43dd8448eb211c80319c", to: 'topic:ünïcödé "quoted" \u2028', idempotencyKey: "键/\\" }),
    ]) {
      const withKid = { ...m, kid: "k1" };
      expect(decoder.decode(additionalData(withKid))).toBe(canonicalJson(withKid));
    }
  });

  it("measures a sealed envelope as its JSON in UTF-8, byte for byte, without writing it out", async () => {
    const ring = await keyRing(ringText(["k1", 1]));
    for (const [m, payload] of [
      [meta(), { n: 1 }],
      [meta({ idempotencyKey: undefined, expiresAt: undefined }), "x".repeat(1000)],
      [meta({ expiresAt: 1_700_000_060_000, traceId: "0af7651916cd43dd8448eb211c80319c", to: 'topic:ünïcödé "quoted" \u2028', idempotencyKey: "键/\\" }), { emoji: "🚀" }],
    ] as const) {
      const { envelope, bytes } = await sealMeasured(ring, m, { actor: "a", payload });
      expect(bytes).toBe(new TextEncoder().encode(JSON.stringify(envelope)).byteLength);
      expect((await open(ring, envelope, 1_700_000_000_001)).ok).toBe(true);
    }
  });

  it("uses a fresh IV per message, so equal payloads give different ciphertexts", async () => {
    const ring = await keyRing(ringText(["k1", 1]));
    const a = await seal(ring, meta(), { actor: "a", payload: "same" });
    const b = await seal(ring, meta(), { actor: "a", payload: "same" });
    expect(a.iv).not.toBe(b.iv);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  it("refuses a flip of any single bit anywhere in the serialized envelope", async () => {
    const ring = await keyRing(ringText(["k1", 1]));
    const envelope = await seal(ring, meta({ expiresAt: 1_900_000_000_000 }), { actor: "a", payload: { n: 1 } });
    const text = JSON.stringify(envelope);
    const reasons = new Set<string>();
    for (let i = 0; i < text.length; i++) {
      for (const bit of [1, 2, 4, 8, 16, 32, 64]) {
        const flipped = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ bit) + text.slice(i + 1);
        let raw: unknown;
        try {
          raw = JSON.parse(flipped);
        } catch {
          continue; // not JSON at all: the queue body schema refuses it before open()
        }
        const result = await open(ring, raw, 1_700_000_000_001);
        if (result.ok) throw new Error(`accepted a flip of bit ${bit} at ${i}: ${flipped}`);
        reasons.add(result.reason);
      }
    }
    expect([...reasons].sort()).toEqual(["malformed", "tampered", "unknown_key"]);
  });

  it("names the reason: tampered iv, ciphertext or metadata; unknown kid; malformed; expired", async () => {
    const ring = await keyRing(ringText(["k1", 1]));
    const envelope = await seal(ring, meta({ expiresAt: 1_700_000_060_000 }), { actor: "a", payload: [1, 2, 3] });
    const flipFirst = (b64: string) => encodeBase64(Uint8Array.from(atob(b64), (c, i) => (i === 0 ? c.charCodeAt(0) ^ 1 : c.charCodeAt(0))));
    const at = 1_700_000_000_001;
    expect(await open(ring, { ...envelope, iv: flipFirst(envelope.iv) }, at)).toMatchObject({ ok: false, reason: "tampered" });
    expect(await open(ring, { ...envelope, ciphertext: flipFirst(envelope.ciphertext) }, at)).toMatchObject({ ok: false, reason: "tampered" });
    expect(await open(ring, { ...envelope, priority: 9 }, at)).toMatchObject({ ok: false, reason: "tampered" });
    expect(await open(ring, { ...envelope, to: "agent:other" }, at)).toMatchObject({ ok: false, reason: "tampered" });
    expect(await open(ring, { ...envelope, expiresAt: envelope.expiresAt! + 1 }, at)).toMatchObject({ ok: false, reason: "tampered" });
    const { idempotencyKey: _dropped, ...withoutKey } = envelope;
    expect(await open(ring, withoutKey, at)).toMatchObject({ ok: false, reason: "tampered" });
    expect(await open(ring, { ...envelope, kid: "k9" }, at)).toMatchObject({ ok: false, reason: "unknown_key" });
    expect(await open(ring, { ...envelope, extra: 1 }, at)).toMatchObject({ ok: false, reason: "malformed" });
    // Whitespace decodes to the same bytes but is not the canonical text: refused as malformed, not as tampered.
    expect(await open(ring, { ...envelope, ciphertext: ` ${envelope.ciphertext}` }, at)).toMatchObject({
      ok: false,
      reason: "malformed",
      detail: "iv or ciphertext is not canonical base64",
    });
    expect(await open(ring, "not an envelope", at)).toMatchObject({ ok: false, reason: "malformed" });
    expect(await open(ring, envelope, 1_700_000_060_000)).toMatchObject({ ok: false, reason: "expired" });
  });

  it("rotates keys: old kids still open, new messages use the last key", async () => {
    const before = await keyRing(ringText(["k1", 1]));
    const old = await seal(before, meta(), { actor: "a", payload: "sealed under k1" });
    const after = await keyRing(ringText(["k1", 1], ["k2", 2]));
    expect(after.current.kid).toBe("k2");
    expect(await open(after, old)).toMatchObject({ ok: true, sealed: { payload: "sealed under k1" } });
    const fresh = await seal(after, meta(), { actor: "a", payload: "sealed under k2" });
    expect(fresh.kid).toBe("k2");
    expect(await open(before, fresh)).toMatchObject({ ok: false, reason: "unknown_key" });
    // Relabelling a k2 message as k1 does not fool anyone.
    expect(await open(after, { ...fresh, kid: "k1" })).toMatchObject({ ok: false, reason: "tampered" });
    const retired = await keyRing(ringText(["k2", 2]));
    expect(await open(retired, old)).toMatchObject({ ok: false, reason: "unknown_key" });
  });

  it("issues a batch's ids with one random part and one tag: distinct, recognised by any key of the ring, at most 256", async () => {
    const ring = await keyRing(ringText(["k1", 1]));
    const now = 1_700_000_000_123;
    const ids = await issueMessageIds(ring, now, 256);
    // Positions wrap around from a random start, so a full batch still gives 256 different ids.
    expect(new Set(ids).size).toBe(256);
    for (const id of ids) {
      expect(id).toMatch(/^msg_[0-9a-f]{28}$/);
      expect(id.slice(4, 16)).toBe(now.toString(16).padStart(12, "0"));
      expect(id.slice(0, 24)).toBe(ids[0]!.slice(0, 24));
    }
    // Recognised after a rotation (the issuing key is still in the ring), not by a ring without it.
    const rotated = await keyRing(ringText(["k1", 1], ["k2", 2]));
    expect(await Promise.all(ids.slice(0, 3).map((id) => issuedMessageId(rotated, id)))).toEqual([true, true, true]);
    expect(await issuedMessageId(await keyRing(ringText(["k2", 2])), ids[0]!)).toBe(false);
    // The tag covers the time and random part: another random part under it is not recognised.
    expect(await issuedMessageId(ring, `${ids[0]!.slice(0, 16)}00000000${ids[0]!.slice(24)}`)).toBe(false);
    await expect(issueMessageIds(ring, now, 257)).rejects.toThrow(RangeError);
  });

  it("rejects bad key rings with a clear message", async () => {
    await expect(keyRing(undefined)).rejects.toThrow(/MESSAGE_KEYS is not set/);
    await expect(keyRing("nope")).rejects.toThrow(/not JSON/);
    await expect(keyRing("[]")).rejects.toThrow(/invalid/);
    await expect(keyRing(JSON.stringify([{ kid: "k", key: encodeBase64(new Uint8Array(16)) }]))).rejects.toThrow(/exactly 32 bytes/);
    await expect(keyRing(ringText(["k", 1], ["k", 2]))).rejects.toThrow(/unique/);
  });

  it("seals small secrets bound to their context", async () => {
    const ring = await keyRing(ringText(["k1", 1]));
    const sealed = await sealSecret(ring, "whsec_abc", "sub_1");
    expect(sealed).not.toContain("whsec_abc");
    expect(await openSecret(ring, sealed, "sub_1")).toBe("whsec_abc");
    await expect(openSecret(ring, sealed, "sub_2")).rejects.toThrow();
  });
});
