// A squad's live event stream over WebSocket, reconnecting with ?since=<last seq> so no event is missed or repeated.
// Node 20 has no global WebSocket (without a flag), so this uses the `ws` package, a runtime dependency.
import WebSocket from "ws";
import { ApiProblem, CliError, EXIT } from "./errors.mjs";
import { pause } from "./follow.mjs";

/** @typedef {{ type: string, squadId?: string, seq?: number, ts?: string, data?: unknown }} StreamEvent */

/** ws://host/api/v1/squads/<id>/stream?since=N from the http(s) server URL. */
export function streamUrl(/** @type {string} */ server, /** @type {string} */ squadId, /** @type {number | undefined} */ since) {
  const url = new URL(`${server.replace(/^http/, "ws")}/api/v1/squads/${encodeURIComponent(squadId)}/stream`);
  if (since !== undefined) url.searchParams.set("since", String(since));
  return url.toString();
}

/** Delay before reconnect attempt n: 0.5 s doubling to 10 s. */
export const reconnectDelay = (/** @type {number} */ attempt) => Math.min(10_000, 500 * 2 ** attempt);

/** How often the client pings; a missing pong within one more period means the connection is dead. */
const PING_MS = 20_000;

/**
 * Connects once and forwards events until the socket closes. Resolves with why it closed;
 * rejects with ApiProblem when the server refuses the upgrade (bad key, unknown squad).
 */
function connectOnce(/** @type {{ url: string, key?: string, signal: AbortSignal, onEvent: (e: StreamEvent) => void, onOpen: () => void }} */ o) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(o.url, { headers: o.key ? { authorization: `Bearer ${o.key}` } : {} });
    let alive = true;
    const pinger = setInterval(() => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.send(JSON.stringify({ type: "ping", v: 1 }));
    }, PING_MS);
    const stop = () => ws.close(1000, "client done");
    o.signal.addEventListener("abort", stop, { once: true });
    const finish = () => {
      clearInterval(pinger);
      o.signal.removeEventListener("abort", stop);
    };
    ws.on("open", o.onOpen);
    ws.on("message", (raw) => {
      alive = true;
      let frame;
      try {
        frame = JSON.parse(String(raw));
      } catch {
        return;
      }
      if (frame?.type === "pong") return;
      o.onEvent(frame);
    });
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        finish();
        let problem;
        try {
          problem = JSON.parse(body);
        } catch {
          problem = { detail: body };
        }
        reject(new ApiProblem(res.statusCode ?? 0, problem));
      });
    });
    ws.on("error", () => {}); // "close" follows every error; reconnecting is decided there
    ws.on("close", (code, reason) => {
      finish();
      resolve({ code, reason: String(reason) });
    });
  });
}

/**
 * Streams a squad's events to `onEvent` until `signal` aborts or `onEvent` returns true (done).
 * Drops reconnect with since=<last seq seen> (callers start from the squad's lastSeq, so `since` is always known);
 * a `stream.gap` frame is passed on so the caller can say so.
 */
export async function tailSquad(
  /** @type {{ server: string, key?: string, squadId: string, since?: number, signal: AbortSignal, onEvent: (e: StreamEvent) => boolean | void, onStatus?: (text: string) => void }} */ o,
) {
  let since = o.since;
  let attempt = 0;
  let finished = false;
  const inner = new AbortController();
  o.signal.addEventListener("abort", () => inner.abort(o.signal.reason), { once: true });
  while (!o.signal.aborted && !finished) {
    let closed;
    try {
      closed = await connectOnce({
        url: streamUrl(o.server, o.squadId, since),
        key: o.key,
        signal: inner.signal,
        onOpen: () => {
          attempt = 0;
          o.onStatus?.(`connected to ${o.squadId}${since !== undefined ? ` from seq ${since}` : ""}`);
        },
        onEvent: (e) => {
          if (typeof e.seq === "number" && e.type !== "stream.gap") since = e.seq;
          if (o.onEvent(e) === true) {
            finished = true;
            inner.abort();
          }
        },
      });
    } catch (err) {
      // Refusals (bad key, unknown squad) end the tail; a server error mid-restart is retried like a drop.
      if (!(err instanceof ApiProblem) || /** @type {number} */ (err.status) < 500) throw err;
      closed = { code: err.status, reason: err.message };
    }
    if (o.signal.aborted || finished) break;
    if (closed.code === 1001 && closed.reason === "squad deleted") throw new CliError(`Squad ${o.squadId} was deleted.`, EXIT.error);
    o.onStatus?.(`connection closed (${closed.code}); reconnecting${since !== undefined ? ` from seq ${since}` : ""}…`);
    await pause(reconnectDelay(attempt++), o.signal);
  }
}
