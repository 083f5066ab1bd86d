// The one way tdev talks to the server: the public API under /api/v1, problems turned into ApiProblem.
import { ApiProblem, CliError, EXIT } from "./errors.mjs";

/** How many times a 429 is waited out before giving up; each wait is what Retry-After asks (at most a minute). */
const RATE_LIMIT_RETRIES = 5;

/**
 * @typedef {{ body?: unknown, raw?: string | AsyncIterable<Uint8Array>, stream?: boolean, contentType?: string, query?: Record<string, string | number | boolean | undefined>, headers?: Record<string, string>, signal?: AbortSignal }} RequestOptions
 * @typedef {{ status: number, headers: Headers, data: any }} Reply
 */

/** Builds ?a=1&b=2, leaving out undefined values. */
export function queryString(/** @type {RequestOptions["query"]} */ query = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") params.set(k, String(v));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** Parses a body as JSON when it is JSON, else keeps the text. */
async function readBody(/** @type {Response} */ res) {
  const text = await res.text();
  if (!text) return null;
  const type = res.headers.get("content-type") ?? "";
  if (/json/.test(type)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** An API client bound to one server and key. */
export function createClient(/** @type {{ url: string, key?: string, fetchImpl?: typeof fetch, wait?: (ms: number) => Promise<unknown> }} */ opts) {
  const { url, key, fetchImpl = fetch, wait = sleep } = opts;

  /** Any path on the server (e.g. /__scheduled); API calls go through `request`. */
  async function send(/** @type {string} */ method, /** @type {string} */ pathAndQuery, /** @type {RequestOptions} */ o = {}) {
    /** @type {Record<string, string>} */
    const headers = { accept: "application/json, application/problem+json;q=0.9, */*;q=0.5", ...(key ? { authorization: `Bearer ${key}` } : {}), ...o.headers };
    let body;
    if (o.raw !== undefined) {
      body = o.raw;
      headers["content-type"] = o.contentType ?? "text/plain";
    } else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers["content-type"] = "application/json";
    }
    const replayable = typeof body !== "object" || body === null;
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        // A streamed body (restore from stdin) needs half-duplex and cannot be sent twice.
        res = await fetchImpl(`${url}${pathAndQuery}`, { method, headers, body: /** @type {any} */ (body), signal: o.signal, ...(replayable ? {} : { duplex: "half" }) });
      } catch (err) {
        if (o.signal?.aborted) throw err;
        throw unreachable(url, err);
      }
      if (res.status === 429 && replayable && attempt < RATE_LIMIT_RETRIES) {
        await res.body?.cancel();
        // The server rate-limits each key; wait as long as it asks rather than failing a script.
        await wait(1000 * Math.min(60, Math.max(1, Number(res.headers.get("retry-after") ?? 1))));
        continue;
      }
      // `stream`: a 2xx body is handed over unread (backups are written to stdout as they arrive).
      return /** @type {Reply} */ ({ status: res.status, headers: res.headers, data: o.stream && res.ok ? res.body : await readBody(res) });
    }
  }

  /** Calls /api/v1<route>; a non-2xx answer throws ApiProblem. */
  async function request(/** @type {string} */ method, /** @type {string} */ route, /** @type {RequestOptions} */ o = {}) {
    const reply = await send(method, `/api/v1${route}${queryString(o.query)}`, o);
    if (reply.status >= 400) throw new ApiProblem(reply.status, typeof reply.data === "object" && reply.data ? reply.data : { detail: String(reply.data ?? "") });
    return reply;
  }

  return {
    url,
    key,
    send,
    request,
    get: async (/** @type {string} */ route, /** @type {RequestOptions["query"]} */ query = {}) => (await request("GET", route, { query })).data,
    post: async (/** @type {string} */ route, /** @type {unknown} */ body, /** @type {RequestOptions} */ o = {}) => (await request("POST", route, { ...o, body })).data,
    put: async (/** @type {string} */ route, /** @type {unknown} */ body) => (await request("PUT", route, { body })).data,
    del: async (/** @type {string} */ route) => (await request("DELETE", route)).data,
  };
}

/** @typedef {ReturnType<typeof createClient>} Client */

/** A connection failure, said in terms of what to do about it. */
export function unreachable(/** @type {string} */ url, /** @type {unknown} */ err) {
  const cause = /** @type {{ cause?: { code?: string } }} */ (err).cause?.code ?? /** @type {Error} */ (err).message;
  return new CliError(`Cannot reach ${url} (${cause}).`, EXIT.error, ["Start the system with `npm start`, or point tdev elsewhere with --url / TDEV_URL."]);
}

/** Yields every item of a list route, following nextCursor page by page. */
export async function* pages(/** @type {Client} */ client, /** @type {string} */ route, /** @type {RequestOptions["query"]} */ query = {}) {
  let cursor;
  do {
    const page = await client.get(route, { limit: 100, ...query, cursor });
    yield* page.items;
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}
