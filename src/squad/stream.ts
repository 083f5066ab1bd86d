import { errorCodes } from "../errors";
import { clientMessageSchema, type SquadEvent } from "./events";
import { problem } from "./outcome";
import type { SquadStore } from "./store";
import { STREAM_PRINCIPAL_HEADER, verifyStreamToken } from "./stream-token";

/** Socket plumbing for a squad's event stream; the Durable Object only accepts sockets and calls these. */
const REPLAY_PAGE = 500;

/** Sends never wait on a client; a socket that cannot take a message is closed and dropped. */
export function trySend(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    try {
      ws.close(1011, "send failed");
    } catch {
      // already gone
    }
  }
}

export function broadcast(sockets: WebSocket[], event: SquadEvent): void {
  const text = JSON.stringify(event);
  for (const ws of sockets) trySend(ws, text);
}

/** Sends the events after `since` in order; a `stream.gap` frame first if some have left the replay window. */
export function replay(ws: WebSocket, store: SquadStore, squadId: string, since: number): void {
  const { oldest, latest } = store.eventBounds();
  if (oldest !== null && since < oldest - 1) {
    trySend(ws, JSON.stringify({ type: "stream.gap", squadId, seq: oldest - 1, ts: new Date().toISOString(), data: { requestedSince: since, oldestAvailable: oldest } }));
  }
  for (let from = since; from < latest; ) {
    const page = store.eventsSince(squadId, from, REPLAY_PAGE);
    if (page.length === 0) break;
    for (const e of page) trySend(ws, JSON.stringify(e));
    from = page[page.length - 1]!.seq;
  }
}

/** Answers one frame from a client: ping, or a replay request; anything else gets an error frame. */
export function answerClient(ws: WebSocket, message: string | ArrayBuffer, store: SquadStore, squadId: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof message === "string" ? message : new TextDecoder().decode(message));
  } catch {
    parsed = undefined;
  }
  const msg = clientMessageSchema.safeParse(parsed);
  if (!msg.success) {
    trySend(ws, JSON.stringify({ type: "error", detail: 'Send {"type":"ping","v":1} or {"type":"replay","v":1,"since":<seq>}.' }));
    return;
  }
  if (msg.data.type === "ping") trySend(ws, JSON.stringify({ type: "pong", lastSeq: store.eventBounds().latest }));
  else replay(ws, store, squadId, msg.data.since);
}

/** Closes every socket (the squad was deleted). */
export function closeAll(sockets: WebSocket[], code: number, reason: string): void {
  for (const ws of sockets) {
    try {
      ws.close(code, reason);
    } catch {
      // already closed
    }
  }
}

/** The WebSocket upgrade of /api/v1/squads/{id}/stream: checks the principal (or a stream token) and `since`, accepts a hibernating socket, replays. */
export async function acceptStream(ctx: DurableObjectState, store: SquadStore, squadId: string | null, request: Request): Promise<Response> {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return problem(426, "upgrade-required", "Upgrade required", "Connect with a WebSocket upgrade.");
  if (squadId === null) return problem(404, "not-found", errorCodes.not_found.title, "No such squad.");
  const url = new URL(request.url);
  const token = url.searchParams.get("token");
  const principal = request.headers.get(STREAM_PRINCIPAL_HEADER) ?? (token ? await verifyStreamToken(store.getMeta("stream_key")!, `squad:${squadId}`, token) : null);
  if (!principal) return problem(401, "unauthorized", errorCodes.unauthorized.title, "The stream token is invalid, expired or for another squad.");
  const sinceText = url.searchParams.get("since");
  const since = sinceText === null ? null : Number(sinceText);
  if (since !== null && !(Number.isInteger(since) && since >= 0)) return problem(400, "bad-request", errorCodes.bad_request.title, "since must be a non-negative integer seq.");
  const { 0: client, 1: server } = new WebSocketPair();
  ctx.acceptWebSocket(server);
  server.serializeAttachment({ principal, connectedAt: Date.now() });
  if (since !== null) replay(server, store, squadId, since);
  return new Response(null, { status: 101, webSocket: client });
}
