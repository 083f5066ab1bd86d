import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { buildApp } from "../src/api/app";
import type { Env } from "../src/env";
import { failingD1 } from "./faulty-d1";
import { ADMIN_KEY, api } from "./helpers";
import { echoAgent, register } from "./squad-helpers";

const app = buildApp();

/** Calls the real app with a D1 whose first write matching `write` fails: a D1 outage between the object and the listing. */
async function callFailing(write: RegExp, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const faulty = failingD1(env.DB, write);
  const ctx = createExecutionContext();
  const request = new Request(`http://localhost${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const res = await app.fetch(request, { ...(env as unknown as Env), DB: faulty.db }, ctx);
  await waitOnExecutionContext(ctx);
  expect(faulty.failed).toHaveLength(1);
  return res;
}

const config = (name: string) => ({ name, members: [{ agent: "ordering-echo" }] });

describe("squad configuration: the object first, the listing second, each retry-safe", () => {
  it("a create whose listing write fails is completed by a retry with the same Idempotency-Key", async () => {
    await register(echoAgent("ordering-echo"));
    const headers = { "idempotency-key": "create-once" };
    const failed = await callFailing(/^insert into "squads"/, "POST", "/api/v1/squads", config("made once"), headers);
    expect(failed.status).toBe(500);
    expect((await api("GET", "/api/v1/squads")).json.items.map((s: { name: string }) => s.name)).not.toContain("made once");

    const retried = await api("POST", "/api/v1/squads", { body: config("made once"), headers });
    expect(retried.status).toBe(201);
    const again = await api("POST", "/api/v1/squads", { body: config("made once"), headers });
    expect(again.status).toBe(200);
    expect(again.json.id).toBe(retried.json.id);
    const detail = await api("GET", `/api/v1/squads/${retried.json.id}`);
    expect(detail.json).toMatchObject({ name: "made once", stats: { members: [{ member: "ordering-echo#live" }] } });
    expect((await api("GET", "/api/v1/squads")).json.items.filter((s: { name: string }) => s.name === "made once")).toHaveLength(1);
  });

  it("an update whose listing write fails is completed by retrying the same PUT", async () => {
    const id = (await api("POST", "/api/v1/squads", { body: config("before") })).json.id;
    const failed = await callFailing(/^update "squads"/, "PUT", `/api/v1/squads/${id}`, { ...config("after"), policy: { paused: true } });
    expect(failed.status).toBe(500);
    expect((await api("GET", `/api/v1/squads/${id}`)).json.name).toBe("before"); // the listing lags until the retry

    expect((await api("PUT", `/api/v1/squads/${id}`, { body: { ...config("after"), policy: { paused: true } } })).status).toBe(200);
    expect((await api("GET", `/api/v1/squads/${id}`)).json).toMatchObject({ name: "after", policy: { paused: true } });
  });

  it("a delete whose listing write fails is completed by retrying the DELETE", async () => {
    const id = (await api("POST", "/api/v1/squads", { body: config("doomed") })).json.id;
    const failed = await callFailing(/^delete from "squads"/, "DELETE", `/api/v1/squads/${id}`);
    expect(failed.status).toBe(500);
    expect((await api("GET", `/api/v1/squads/${id}`)).status).toBe(404); // its object is gone already

    expect((await api("DELETE", `/api/v1/squads/${id}`)).status).toBe(204);
    expect((await api("GET", "/api/v1/squads?limit=100")).json.items.map((s: { id: string }) => s.id)).not.toContain(id);
    expect((await api("DELETE", `/api/v1/squads/${id}`)).status).toBe(404);
  });
});
