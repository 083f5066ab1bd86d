// The local Bedrock fixture's control endpoints (test/fixtures/bedrock-server.ts), for tests that script it.
import { inject } from "vitest";

/** GET (no body) or POST (a JSON body) to the fixture's /__control/<path>; its JSON answer. */
export async function control(path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${inject("bedrockUrl")}/__control/${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });
  return res.json();
}

/** What the fixture received for one scripted model or agent id: each request's signature verdict and body. */
export const requestsFor = (id: string): Promise<{ signature: string; body: any }[]> => control(`requests?id=${encodeURIComponent(id)}`);
