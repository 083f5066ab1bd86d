import { DurableObject, waitUntil } from "cloudflare:workers";
import type { Env } from "../env";
import { issueStreamToken, storedStreamKey, verifyStreamToken } from "../squad/stream-token";
import { log } from "./log";
import { invocationBatch } from "../invocation";
import { countMetric } from "./record";
import { ALL_SQUADS, parseSince, topicScope, wants } from "./topics";

/** One frame of the global stream. */
export interface StreamFrame {
  topic: string;
  type: string;
  seq: number;
  ts: string;
  data: unknown;
}

/** Events kept per topic for `?since=` resumption; older ones are gone (the client re-reads over REST). */
export const RETAIN_PER_TOPIC = 1_000;
/** At most this many frames are replayed when a socket opens. */
export const MAX_REPLAY = 2_000;

const HUB_NAME = "global";
/** A browser token opens exactly the topics it was issued for. */
const audience = (topics: readonly string[]) => `events:${[...topics].sort().join(",")}`;

interface Attachment {
  topics: string[];
}

/**
 * The global event stream: squads and system publishers send their events here; sockets opened on
 * `/api/v1/stream` receive the topics the API authorised for them. Hibernation API: the chosen topics ride in
 * each socket's attachment. Events live in SQLite, bounded per topic, so a client resumes with `?since=`.
 */
export class EventHub extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec(
      "CREATE TABLE IF NOT EXISTS events (topic TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (topic, seq))",
    );
    // Retention rides on the insert (one statement per publish); recreated at start so it follows RETAIN_PER_TOPIC.
    sql.exec("DROP TRIGGER IF EXISTS events_retain");
    sql.exec(`CREATE TRIGGER events_retain AFTER INSERT ON events BEGIN DELETE FROM events WHERE topic = NEW.topic AND seq <= NEW.seq - ${RETAIN_PER_TOPIC}; END`);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  #streamKey(): string {
    return storedStreamKey(this.ctx.storage.kv);
  }

  /** Stores and broadcasts one event. `seq` comes from the source when it has one (a squad); else the next here. Idempotent per (topic, seq). */
  publish(topic: string, type: string, data: unknown, seq?: number, ts = Date.now()): number {
    if (!topicScope(topic) || topic === ALL_SQUADS) return -1;
    // One statement: the next seq here when the source has none, the insert, and (trigger) the trim to RETAIN_PER_TOPIC.
    const [row] = this.ctx.storage.sql
      .exec<{ seq: number }>(
        "INSERT OR IGNORE INTO events (topic, seq, ts, type, data) VALUES (?1, coalesce(?2, (SELECT coalesce(max(seq), 0) + 1 FROM events WHERE topic = ?1)), ?3, ?4, ?5) RETURNING seq",
        topic,
        seq ?? null,
        ts,
        type,
        JSON.stringify(data ?? null),
      )
      .toArray();
    if (!row) return seq ?? -1; // a retried publish (the source's seq is stored already): sockets have it
    const n = row.seq;
    // Counted here because a retried publish stops above: each task transition once, across every squad.
    if (topic.startsWith("squad:") && type.startsWith("task.")) countMetric("tdev_tasks_total", { status: type.slice("task.".length) });
    const text = JSON.stringify({ topic, type, seq: n, ts: new Date(ts).toISOString(), data } satisfies StreamFrame);
    for (const ws of this.ctx.getWebSockets()) {
      const att = ws.deserializeAttachment() as Attachment | null;
      if (att && wants(att.topics, topic)) trySend(ws, text);
    }
    return n;
  }

  /** Stores and broadcasts several events in one call (one storage commit); their seqs, in order. */
  publishAll(events: readonly HubEvent[]): number[] {
    return events.map((e) => this.publish(e.topic, e.type, e.data, e.seq, e.ts));
  }

  async streamToken(topics: string[], principal: string): Promise<{ token: string; expiresAt: string }> {
    return issueStreamToken(this.#streamKey(), audience(topics), principal);
  }

  /** Upgrades `?topics=a,b` (already authorised by the API, or by `&token=` issued here for exactly those topics), replaying after `?since=`. */
  override async fetch(request: Request): Promise<Response> {
    const params = new URL(request.url).searchParams;
    const topics = (params.get("topics") ?? "").split(",").filter((t) => topicScope(t));
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || topics.length === 0) return new Response("expected a WebSocket upgrade with topics", { status: 426 });
    const token = params.get("token");
    if (token !== null && !(await verifyStreamToken(this.#streamKey(), audience(topics), token))) return new Response("invalid or expired stream token", { status: 401 });
    const since = parseSince(params.get("since") ?? undefined);
    if (!since) return new Response("since: a seq, or topic=seq pairs separated by commas", { status: 400 });
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ topics } satisfies Attachment);
    if (params.has("since")) this.#replay(server, topics, since);
    return new Response(null, { status: 101, webSocket: client });
  }

  #replay(ws: WebSocket, topics: string[], since: { all?: number; byTopic: Record<string, number> }): void {
    const rows = this.ctx.storage.sql
      .exec<{ topic: string; seq: number; ts: number; type: string; data: string }>("SELECT topic, seq, ts, type, data FROM events ORDER BY ts, topic, seq")
      .toArray();
    let sent = 0;
    for (const r of rows) {
      const after = since.byTopic[r.topic] ?? since.all;
      if (after === undefined || r.seq <= after || !wants(topics, r.topic)) continue;
      if (sent++ >= MAX_REPLAY) break;
      trySend(ws, JSON.stringify({ topic: r.topic, type: r.type, seq: r.seq, ts: new Date(r.ts).toISOString(), data: JSON.parse(r.data) } satisfies StreamFrame));
    }
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (message !== "ping") trySend(ws, JSON.stringify({ error: "this stream only sends; send 'ping' to keep it alive" }));
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    ws.close(code === 1005 ? 1000 : code, reason);
  }
}

function trySend(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    // a closing socket misses this frame; it resumes with ?since=
  }
}

export const eventHub = (env: Env) => env.EVENT_HUB.getByName(HUB_NAME);

/** One event on its way to the hub; `seq` when the source numbers its own (a squad). */
export interface HubEvent {
  topic: string;
  type: string;
  data: unknown;
  seq?: number;
  ts: number;
}

/**
 * How long an isolate collects events before one call stores them all: events close together share one
 * call and one storage commit in the hub (each commit is a disk sync in the hub's single-threaded object).
 */
export const HUB_WINDOW_MS = 10;

let pending: HubEvent[] | undefined;

/** Sends an event to the global stream after the current work, never failing or delaying it. */
export function publishToHub(env: Env, topic: string, type: string, data: unknown, seq?: number, ts = Date.now()): void {
  const event: HubEvent = { topic, type, data, seq, ts };
  // A queue invocation sends its events when it ends (invocation.ts): no timer holds it open.
  const scoped = invocationBatch<HubEvent[]>(
    "event-hub",
    () => [],
    (events) => sendToHub(env, events),
  );
  if (scoped) return void scoped.push(event);
  if (pending) return void pending.push(event);
  const mine = [event];
  pending = mine;
  try {
    waitUntil(new Promise((resolve) => setTimeout(resolve, HUB_WINDOW_MS)).then(() => sendToHub(env, mine)));
  } catch {
    // Outside a request context nothing can be extended: send now.
    void sendToHub(env, mine);
  }
}

async function sendToHub(env: Env, events: HubEvent[]): Promise<void> {
  if (pending === events) pending = undefined;
  try {
    await eventHub(env).publishAll(events);
  } catch (error) {
    log.warn("event_hub.publish_failed", { events: events.length, types: [...new Set(events.map((e) => e.type))], error });
  }
}
