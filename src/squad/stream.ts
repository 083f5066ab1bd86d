import { clientMessageSchema, type SquadEvent } from "./events";
import type { SquadStore } from "./store";

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
  if (!msg.success) return trySend(ws, JSON.stringify({ type: "error", detail: 'Send {"type":"ping","v":1} or {"type":"replay","v":1,"since":<seq>}.' }));
  if (msg.data.type === "ping") trySend(ws, JSON.stringify({ type: "pong", lastSeq: store.eventBounds().latest }));
  else replay(ws, store, squadId, msg.data.since);
}
