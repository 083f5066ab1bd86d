import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { issueStreamToken, storedStreamKey, verifyStreamToken } from "../squad/stream-token";

const audience = (subscription: string) => `subscription:${subscription}`;

/** What a stream subscriber receives for each event, one JSON text frame per event. */
export interface StreamFrame {
  subscription: string;
  topic: string;
  event: { id: string; type: string; data: unknown; time: string };
}

/**
 * One Durable Object per topic holding the WebSocket streams of its `websocket` subscriptions.
 * Hibernation API: sockets survive eviction; the subscription id travels as the socket's tag.
 * Streams are live: an event published while nobody is connected is not kept for later.
 */
export class TopicStream extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Keep-alives are answered without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  #streamKey(): string {
    return storedStreamKey(this.ctx.storage.kv);
  }

  /** A short-lived token that opens one subscription's stream, for browsers (no headers on WebSockets). */
  async streamToken(subscription: string, principal: string): Promise<{ token: string; expiresAt: string }> {
    return issueStreamToken(this.#streamKey(), audience(subscription), principal);
  }

  /**
   * Upgrades a request for `?subscription=<id>`. The API either authenticated the caller's bearer
   * credential itself or, for browsers, forwards `&token=`, which must have been issued here for
   * exactly this subscription.
   */
  override async fetch(request: Request): Promise<Response> {
    const params = new URL(request.url).searchParams;
    const subscription = params.get("subscription");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !subscription) {
      return new Response("expected a WebSocket upgrade for a subscription", { status: 426 });
    }
    const token = params.get("token");
    if (token !== null && !(await verifyStreamToken(this.#streamKey(), audience(subscription), token))) {
      return new Response("invalid or expired stream token", { status: 401 });
    }
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [subscription]);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Sends a frame to every socket of one subscription; returns how many got it. */
  async broadcast(frame: StreamFrame): Promise<number> {
    const text = JSON.stringify(frame);
    let sent = 0;
    for (const ws of this.ctx.getWebSockets(frame.subscription)) {
      try {
        ws.send(text);
        sent++;
      } catch {
        // A socket closing under us misses this live event; the others still get it.
      }
    }
    return sent;
  }

  /** Open sockets per subscription (for tests and stats). */
  async connections(subscription: string): Promise<number> {
    return this.ctx.getWebSockets(subscription).length;
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Streams are one-way; anything other than the auto-answered ping is a client mistake.
    if (message !== "ping") ws.send(JSON.stringify({ error: "this stream only sends; send 'ping' to keep it alive" }));
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    ws.close(code === 1005 ? 1000 : code, reason);
  }
}
