import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AppError } from "../src/errors";
import { decodeBase64, issueMessageIds, keyRing } from "../src/messaging/envelope";
import { toHex } from "../src/encoding";
import { sealDraft } from "../src/messaging/producer";
import { api, codeSpec } from "./helpers";
import { waitFor } from "./messaging-helpers";
import { receiptRow } from "./receipt-helpers";

const runsOf = (sessionId: string) =>
  env.DB.prepare("SELECT status, source, actor, error_code FROM runs WHERE session_id = ? ORDER BY started_at")
    .bind(sessionId)
    .all()
    .then((r) => r.results);

describe("POST /api/v1/messages", () => {
  it("runs an agent from a message, acting as the sender", async () => {
    expect((await api("POST", "/api/v1/agents", { body: codeSpec("msg-echo") })).status).toBe(201);
    const sent = await api("POST", "/api/v1/messages", { body: { to: { agent: "msg-echo" }, priority: 8, payload: { hello: "queue" } } });
    expect(sent.status).toBe(202);
    expect(sent.json.id).toMatch(/^msg_[0-9a-f]{28}$/);
    const runs = await waitFor(
      async () => {
        const r = await runsOf(sent.json.id);
        return r.length > 0 && r;
      },
      20_000,
      "the agent run",
    );
    expect(runs).toEqual([{ status: "succeeded", source: "queue", actor: "admin", error_code: null }]);
    const status = await waitFor(
      async () => {
        const s = (await api("GET", `/api/v1/messages/${sent.json.id}`)).json;
        return s.status === "delivered" && s;
      },
      10_000,
      "delivered status",
    );
    expect(status).toMatchObject({ id: sent.json.id, target: "agent:msg-echo", attempts: 1, lastError: null, deliveredAt: expect.any(String), deadLetter: null });
    const unknown = await api("GET", "/api/v1/messages/msg_0190000000000000000000000000");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("content-type")).toContain("application/problem+json");
    expect(unknown.json).toMatchObject({ status: 404, detail: "No message msg_0190000000000000000000000000." });
    // Ids the system issued but no consumer has recorded yet (queued or deferred) are pending, not unknown: every id
    // of a batch, and an id issued one at a time before batches (its HMAC, made here as that code made it).
    const batch = await issueMessageIds(await keyRing(env.MESSAGE_KEYS), Date.now(), 3);
    expect(new Set(batch).size).toBe(3);
    const single = await singleIssuedId(env.MESSAGE_KEYS!);
    for (const issued of [...batch, single]) expect((await api("GET", `/api/v1/messages/${issued}`)).json).toMatchObject({ id: issued, status: "pending", attempts: 0 });
    // A forged tag on a well-formed id is unknown too.
    for (const issued of [batch[1]!, single]) {
      const forged = issued.slice(0, -6) + (issued.endsWith("0") ? "1" : "0").repeat(6);
      expect((await api("GET", `/api/v1/messages/${forged}`)).status).toBe(404);
    }
    expect((await api("GET", "/api/v1/messages/not-an-id")).status).toBe(422);
  });

  it("an agent's failure is the message's failure: retried, then dead-lettered with the run's error", async () => {
    const failing = codeSpec("msg-fails", "1.0.0", { code: "export default { async run() { throw new Error('boom'); } };" });
    expect((await api("POST", "/api/v1/agents", { body: failing })).status).toBe(201);
    const sent = await api("POST", "/api/v1/messages", { body: { to: { agent: "msg-fails" }, priority: 9, payload: {} } });
    expect(sent.status).toBe(202);
    const letter = await waitFor(
      async () => {
        const res = await api("GET", `/api/v1/dead-letters/${sent.json.id}`);
        return res.status === 200 && res.json;
      },
      30_000,
      "the dead letter",
    );
    expect(letter).toMatchObject({ reason: "max_retries", attempts: 6, target: "agent:msg-fails", kind: "run", priority: 9 });
    expect(letter.lastError).toMatch(/boom/);
    const runs = await runsOf(sent.json.id);
    expect(runs).toHaveLength(6);
    expect(runs.every((r) => r.status === "failed")).toBe(true);
    expect((await api("GET", `/api/v1/messages/${sent.json.id}`)).json).toMatchObject({ status: "dead", attempts: 6, deadLetter: { reason: "max_retries", replayCount: 0 } });
  });

  it("sends a batch of up to 100, in order, all or none", async () => {
    await api("POST", "/api/v1/agents", { body: codeSpec("msg-batch") });
    const ok = await api("POST", "/api/v1/messages/batch", {
      body: {
        messages: [
          { to: { agent: "msg-batch" }, priority: 7, payload: 1 },
          { to: { topic: "batch-topic" }, payload: { type: "batch.sent", data: 2 } },
          { to: { agent: "msg-batch" }, priority: 0, payload: 3, idempotencyKey: "k-3" },
        ],
      },
    });
    expect(ok.status).toBe(202);
    expect(ok.json.ids).toHaveLength(3);
    expect(new Set(ok.json.ids).size).toBe(3);
    await waitFor(async () => (await runsOf(ok.json.ids[0])).length === 1, 20_000, "first run");

    const tooMany = await api("POST", "/api/v1/messages/batch", {
      body: { messages: Array.from({ length: 101 }, () => ({ to: { topic: "t" }, payload: { type: "x", data: 0 } })) },
    });
    expect(tooMany.status).toBe(422);
    const oneBad = await api("POST", "/api/v1/messages/batch", {
      body: {
        messages: [
          { to: { agent: "msg-batch" }, payload: "fine", idempotencyKey: "never-sent" },
          { to: { agent: "no-such-agent" }, payload: 1 },
        ],
      },
    });
    expect(oneBad.status).toBe(404);
    // A message sent after the refused batch, on the same band, is a barrier: once it is delivered, a message of
    // that batch would have been too.
    const barrier = await api("POST", "/api/v1/messages", { body: { to: { agent: "msg-batch" }, payload: "barrier", idempotencyKey: "barrier" } });
    await waitFor(async () => (await runsOf(barrier.json.id)).length === 1, 20_000, "the barrier message");
    expect(await receiptRow("idem:agent:msg-batch:never-sent")).toBeNull();
  });

  it("refuses bad input with a problem naming the field, and changes nothing", async () => {
    const cases: [unknown, number, string?][] = [
      [{ to: { agent: "msg-echo" }, priority: 10, payload: 1 }, 422, "priority"],
      [{ to: { agent: "msg-echo" }, kind: "task", payload: 1 }, 422, "kind"],
      [{ to: { squad: "sqd_0190000000000000000000000001" }, payload: { input: 1 } }, 422, "payload.capability"],
      [{ to: { squad: "not-a-squad" }, payload: {} }, 422, "to"],
      [{ to: { topic: "t" }, payload: { data: 1 } }, 422, "payload.type"],
      [{ to: { agent: "nope-not-registered" }, payload: 1 }, 404],
      [{ to: { squad: "sqd_0190000000000000000000000001" }, payload: { capability: "echo", input: 1 } }, 404],
      [{ to: { agent: "msg-echo", topic: "t" }, payload: 1 }, 422],
      [{ to: { agent: "msg-echo" }, payload: 1, expiresInMs: 0 }, 422, "expiresInMs"],
    ];
    for (const [body, status, path] of cases) {
      const res = await api("POST", "/api/v1/messages", { body });
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      if (path) expect(res.json.errors.map((e: { path: string }) => e.path).join(" "), JSON.stringify(body)).toContain(path);
    }
    expect((await api("POST", "/api/v1/messages", { body: { to: { topic: "t" }, payload: { type: "x", data: 1 } }, token: null })).status).toBe(401);
  });

  it("needs the squads:run scope", async () => {
    const key = await api("POST", "/api/v1/keys", { body: { name: "reader", scopes: ["agents:read"] } });
    expect(key.status).toBe(201);
    const res = await api("POST", "/api/v1/messages", { body: { to: { topic: "t" }, payload: { type: "x", data: 1 } }, token: key.json.key });
    expect(res.status).toBe(403);
    expect((await api("GET", "/api/v1/dead-letters", { token: key.json.key })).status).toBe(403);
    expect((await api("GET", "/api/v1/topics/t/subscriptions", { token: key.json.key })).status).toBe(403);
  });

  it("refuses internal messages too large for a queue before sending", async () => {
    const err = await sealDraft(env, { to: { topic: "t" }, priority: 5, payload: { type: "big", data: "x".repeat(100_000) }, actor: "x" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "payload_too_large" });
  });

  it("without MESSAGE_KEYS, producing is a clear 'not configured' error", async () => {
    const err = await sealDraft({ ...env, MESSAGE_KEYS: undefined }, { to: { topic: "t" }, priority: 5, payload: {}, actor: "x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: "messaging_not_configured" });
  });
});

/** An id as issued before batches: `msg_` + 12 hex ms + 8 hex random + the first 8 hex of HMAC-SHA256 over those, keyed by HKDF of the ring key. */
async function singleIssuedId(keys: string): Promise<string> {
  const raw = decodeBase64((JSON.parse(keys) as { key: string }[]).at(-1)!.key)!;
  const ikm = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveKey"]);
  const info = new TextEncoder().encode("t-developer-edge message id v1");
  const key = await crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info }, ikm, { name: "HMAC", hash: "SHA-256", length: 256 }, false, ["sign"]);
  const body = `msg_${Date.now().toString(16).padStart(12, "0")}${toHex(crypto.getRandomValues(new Uint8Array(4)))}`;
  return body + toHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body)), 0, 4));
}
