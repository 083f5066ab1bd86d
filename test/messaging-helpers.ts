import { vi } from "vitest";

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface Hit {
  url: string;
  headers: Record<string, string>;
  body: string;
  at: number;
}

/**
 * Receives webhook POSTs to https://hooks.test/… inside the test isolate (the queue consumer runs
 * here too), answering with the status `respond` gives for the path. Other URLs pass through.
 */
export function webhookReceiver(respond: (path: string) => number = () => 200) {
  const hits: Hit[] = [];
  const original = globalThis.fetch;
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input as RequestInfo, init as RequestInit);
    const url = new URL(request.url);
    if (url.hostname !== "hooks.test") return original(input as RequestInfo, init as RequestInit);
    hits.push({ url: request.url, headers: Object.fromEntries(request.headers), body: await request.text(), at: performance.now() });
    return new Response(null, { status: respond(url.pathname) });
  });
  return { hits, restore: () => spy.mockRestore(), to: (path: string) => hits.filter((h) => new URL(h.url).pathname === path) };
}

export async function hmacHex(secret: string, text: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return [...new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(text)))].map((b) => b.toString(16).padStart(2, "0")).join("");
}
