import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { issueStreamToken, newStreamKey, STREAM_TOKEN_TTL_SECONDS } from "../src/squad/stream-token";
import { api } from "./helpers";
import { waitFor } from "./messaging-helpers";

const open = (path: string) => exports.default.fetch(new Request(`http://localhost${path}`, { headers: { upgrade: "websocket" } }));

describe("topic stream tokens for browsers", () => {
  it("open exactly one subscription's stream without a bearer header, and deliver its events", async () => {
    const sub = await api("POST", "/api/v1/topics/browser/subscriptions", { body: { type: "websocket" } });
    const other = await api("POST", "/api/v1/topics/browser/subscriptions", { body: { type: "websocket" } });
    const issued = await api("POST", `/api/v1/topics/browser/subscriptions/${sub.json.id}/stream-token`);
    expect(issued.status).toBe(200);
    expect(issued.json.url).toBe(`${sub.json.stream}?token=${encodeURIComponent(issued.json.token)}`);
    expect(Date.parse(issued.json.expiresAt) - Date.now()).toBeLessThanOrEqual(STREAM_TOKEN_TTL_SECONDS * 1000);

    const res = await open(issued.json.url);
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const frames: string[] = [];
    ws.addEventListener("message", (e) => void frames.push(e.data as string));
    await api("POST", "/api/v1/topics/browser/events", { body: { type: "page.viewed", data: { n: 1 }, priority: 8 } });
    const [frame] = await waitFor(() => frames.length > 0 && frames.map((f) => JSON.parse(f)), 20_000, "a stream frame");
    expect(frame).toMatchObject({ subscription: sub.json.id, event: { type: "page.viewed", data: { n: 1 } } });
    ws.close(1000, "done");

    // The same token does not open another subscription's stream.
    expect((await open(`${other.json.stream}?token=${encodeURIComponent(issued.json.token)}`)).status).toBe(401);
  });

  it("refuses forged, foreign-key, expired and empty tokens", async () => {
    const sub = await api("POST", "/api/v1/topics/guarded/subscriptions", { body: { type: "websocket" } });
    const foreign = await issueStreamToken(newStreamKey(), `subscription:${sub.json.id}`, "admin");
    expect((await open(`${sub.json.stream}?token=${foreign.token}`)).status).toBe(401);
    expect((await open(`${sub.json.stream}?token=not.a.jwt`)).status).toBe(401);
    expect((await open(`${sub.json.stream}?token=`)).status).toBe(401);

    // Expired: signed with the topic's own key, but issued long ago.
    const streams = env.TOPIC_STREAMS.get(env.TOPIC_STREAMS.idFromName("guarded"));
    await streams.streamToken(sub.json.id, "admin");
    const key = await runInDurableObject(streams, (_instance, state) => state.storage.kv.get<string>("stream_key")!);
    const expired = await issueStreamToken(key, `subscription:${sub.json.id}`, "admin", Date.now() - (STREAM_TOKEN_TTL_SECONDS + 5) * 1000);
    expect((await open(`${sub.json.stream}?token=${expired.token}`)).status).toBe(401);
  });

  it("needs squads:run to issue a token and a websocket subscription to issue it for", async () => {
    const reader = await api("POST", "/api/v1/keys", { body: { name: "reader", scopes: ["agents:read"] } });
    const sub = await api("POST", "/api/v1/topics/scoped/subscriptions", { body: { type: "websocket" } });
    expect((await api("POST", `/api/v1/topics/scoped/subscriptions/${sub.json.id}/stream-token`, { token: reader.json.key })).status).toBe(403);
    expect((await api("POST", `/api/v1/topics/scoped/subscriptions/${sub.json.id}/stream-token`, { token: null })).status).toBe(401);
    expect((await api("POST", "/api/v1/topics/scoped/subscriptions/sub_nope/stream-token")).status).toBe(404);
  });
});
