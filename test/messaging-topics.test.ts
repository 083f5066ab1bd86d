import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { publishEvent } from "../src/messaging/events";
import { matchesEventType } from "../src/messaging/subscriptions";
import { verifySignature } from "../src/messaging/webhooks";
import { ADMIN_KEY, api } from "./helpers";
import { hmacHex, waitFor, webhookReceiver } from "./messaging-helpers";
import { createSquad, echoAgent, register } from "./squad-helpers";

let receiver: ReturnType<typeof webhookReceiver> | undefined;
afterEach(() => receiver?.restore());

describe("event bus: topics, subscriptions, signed webhooks", () => {
  it("delivers a published event to a webhook once, signed with the subscription's secret", async () => {
    receiver = webhookReceiver();
    const sub = await api("POST", "/api/v1/topics/orders/subscriptions", { body: { type: "webhook", url: "https://hooks.test/orders", eventTypes: ["order.*"] } });
    expect(sub.status).toBe(201);
    expect(sub.json).toMatchObject({ topic: "orders", type: "webhook", target: "https://hooks.test/orders", eventTypes: ["order.*"] });
    const secret: string = sub.json.secret;
    expect(secret).toMatch(/^whsec_/);

    const published = await api("POST", "/api/v1/topics/orders/events", { body: { type: "order.created", data: { n: 7 }, priority: 8 } });
    expect(published.status).toBe(202);
    const ignored = await api("POST", "/api/v1/topics/orders/events", { body: { type: "invoice.sent", data: {} } });
    expect(ignored.status).toBe(202);

    const [hit] = await waitFor(() => receiver!.to("/orders").length > 0 && receiver!.to("/orders"), 20_000, "webhook delivery");
    const body = JSON.parse(hit!.body);
    expect(body).toMatchObject({ topic: "orders", event: { id: published.json.id, type: "order.created", data: { n: 7 } } });
    expect(hit!.headers["x-tdev-event"]).toBe("order.created");
    // Check the signature independently of the code that made it.
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(hit!.headers["x-tdev-signature"]!)!;
    expect(v1).toBe(await hmacHex(secret, `${t}.${hit!.body}`));
    expect(await verifySignature(secret, hit!.headers["x-tdev-signature"]!, hit!.body)).toBe(true);
    expect(await verifySignature(secret, hit!.headers["x-tdev-signature"]!, hit!.body.replace("7", "8"))).toBe(false);
    expect(await verifySignature("whsec_other", hit!.headers["x-tdev-signature"]!, hit!.body)).toBe(false);

    // A later event on the normal band (where the ignored one went) is a barrier: once it arrives, a stray second
    // delivery of either earlier event would have too.
    await api("POST", "/api/v1/topics/orders/events", { body: { type: "order.barrier", data: {} } });
    await waitFor(() => receiver!.to("/orders").length > 1, 20_000, "the barrier event");
    expect(receiver.to("/orders").map((h) => JSON.parse(h.body).event.type)).toEqual(["order.created", "order.barrier"]);
  });

  it("publishEvent from other areas reaches subscribers and never throws", async () => {
    receiver = webhookReceiver();
    await api("POST", "/api/v1/topics/system/subscriptions", { body: { type: "webhook", url: "https://hooks.test/system" } });
    await publishEvent(env, "system", "agent.published", { name: "echo", version: "1.0.0" });
    const [hit] = await waitFor(() => receiver!.to("/system").length > 0 && receiver!.to("/system"), 20_000, "system event");
    expect(JSON.parse(hit!.body).event).toMatchObject({ type: "agent.published", data: { name: "echo" } });
    // Delivery problems are logged, not thrown into the caller.
    await expect(publishEvent(env, "Bad Topic!", "x", {})).resolves.toBeUndefined();
    await expect(publishEvent({ ...env, MESSAGE_KEYS: undefined }, "system", "agent.published", {})).resolves.toBeUndefined();
  });

  it("lists and deletes subscriptions; conflicts and bad input are problems", async () => {
    await register(echoAgent("topics-echo"));
    const squad = await createSquad({ members: [{ agent: "topics-echo" }] });
    const a = await api("POST", "/api/v1/topics/list-me/subscriptions", { body: { type: "webhook", url: "https://hooks.test/a" } });
    const b = await api("POST", "/api/v1/topics/list-me/subscriptions", { body: { type: "squad", squad, task: { capability: "echo" } } });
    const unknownSquad = await api("POST", "/api/v1/topics/list-me/subscriptions", {
      body: { type: "squad", squad: "sqd_0190000000000000000000000002", task: { capability: "echo" } },
    });
    expect(unknownSquad.status).toBe(404);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.json.secret).toBeUndefined();
    const again = await api("POST", "/api/v1/topics/list-me/subscriptions", { body: { type: "webhook", url: "https://hooks.test/a" } });
    expect(again.status).toBe(409);

    const page1 = await api("GET", "/api/v1/topics/list-me/subscriptions?limit=1");
    expect(page1.json.items).toHaveLength(1);
    expect(page1.json.items[0].secret).toBeUndefined();
    const page2 = await api("GET", `/api/v1/topics/list-me/subscriptions?limit=1&cursor=${page1.json.nextCursor}`);
    expect(page2.json).toMatchObject({ items: [{ id: b.json.id, task: { capability: "echo" } }], nextCursor: null });

    expect((await api("DELETE", `/api/v1/topics/list-me/subscriptions/${a.json.id}`)).status).toBe(204);
    expect((await api("DELETE", `/api/v1/topics/list-me/subscriptions/${a.json.id}`)).status).toBe(404);
    expect((await api("GET", "/api/v1/topics/list-me/subscriptions")).json.items).toHaveLength(1);

    const topics = await api("GET", "/api/v1/topics?limit=100");
    expect(topics.status).toBe(200);
    expect(topics.json.items).toContainEqual({ topic: "list-me", subscriptions: 1 });
    const names = topics.json.items.map((t: { topic: string }) => t.topic);
    expect(names).toEqual([...names].sort());
    const firstPage = await api("GET", "/api/v1/topics?limit=1");
    const nextPage = await api("GET", `/api/v1/topics?limit=1&cursor=${firstPage.json.nextCursor}`);
    expect(nextPage.json.items[0].topic > firstPage.json.items[0].topic).toBe(true);

    const bad = await api("POST", "/api/v1/topics/list-me/subscriptions", { body: { type: "webhook", url: "ftp://x" } });
    expect(bad.status).toBe(422);
    expect((await api("POST", "/api/v1/topics/BAD/subscriptions", { body: { type: "webhook", url: "https://hooks.test/x" } })).status).toBe(422);
    expect((await api("POST", "/api/v1/topics/t/subscriptions", { body: { type: "squad", squad: "sqd_x", task: {} } })).status).toBe(422);
    expect((await api("POST", "/api/v1/topics/t/events", { body: { type: "Not A Type", data: 1 } })).status).toBe(422);
  });

  it("streams matching events to a WebSocket subscription while it is connected", async () => {
    const sub = await api("POST", "/api/v1/topics/live/subscriptions", { body: { type: "websocket", eventTypes: ["tick.*"] } });
    expect(sub.status).toBe(201);
    expect(sub.json).toMatchObject({ type: "websocket", target: sub.json.id, stream: `/api/v1/topics/live/subscriptions/${sub.json.id}/stream` });

    const connect = (headers: Record<string, string>) => exports.default.fetch(new Request(`http://localhost${sub.json.stream}`, { headers }));
    expect((await connect({ upgrade: "websocket" })).status).toBe(401);
    expect((await connect({ authorization: `Bearer ${ADMIN_KEY}` })).status).toBe(400);
    const res = await connect({ upgrade: "websocket", authorization: `Bearer ${ADMIN_KEY}` });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const frames: string[] = [];
    ws.addEventListener("message", (e) => void frames.push(e.data as string));
    const streams = env.TOPIC_STREAMS.get(env.TOPIC_STREAMS.idFromName("live"));
    expect(await streams.connections(sub.json.id)).toBe(1);

    ws.send("ping");
    await waitFor(() => frames.includes("pong"), 5_000, "pong");
    await api("POST", "/api/v1/topics/live/events", { body: { type: "other.thing", data: 0, priority: 8 } });
    await api("POST", "/api/v1/topics/live/events", { body: { type: "tick.one", data: { n: 1 }, priority: 8 } });
    const [frame] = await waitFor(
      () => {
        const events = frames.filter((f) => f !== "pong").map((f) => JSON.parse(f));
        return events.length > 0 && events;
      },
      20_000,
      "a stream frame",
    );
    expect(frame).toMatchObject({ subscription: sub.json.id, topic: "live", event: { type: "tick.one", data: { n: 1 } } });
    ws.close(1000, "done");

    const missing = await exports.default.fetch(
      new Request("http://localhost/api/v1/topics/live/subscriptions/sub_nope/stream", { headers: { upgrade: "websocket", authorization: `Bearer ${ADMIN_KEY}` } }),
    );
    expect(missing.status).toBe(404);
  });

  it("matches event types exactly or by prefix wildcard", () => {
    expect(matchesEventType([], "anything")).toBe(true);
    expect(matchesEventType(["agent.*"], "agent.published")).toBe(true);
    expect(matchesEventType(["agent.*"], "agents.published")).toBe(false);
    expect(matchesEventType(["channel.moved"], "channel.moved")).toBe(true);
    expect(matchesEventType(["channel.moved"], "channel.moved.back")).toBe(false);
  });
});
