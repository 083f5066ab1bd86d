import { env, exports } from "cloudflare:workers";
import { publishToSquad } from "../src/squad/directory";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, api } from "./helpers";
import { createSquad, echoAgent, events, policy, register, submit, waitFor, waitTask } from "./squad-helpers";

interface Received {
  type: string;
  squadId: string;
  seq: number;
  ts: string;
  data: any;
}

/** Opens a squad stream the way a client does: a WebSocket upgrade through the worker. */
async function connect(path: string, opts: { token?: string | null } = {}) {
  const headers: Record<string, string> = { upgrade: "websocket" };
  const token = opts.token === undefined ? ADMIN_KEY : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await exports.default.fetch(new Request(`http://localhost${path}`, { headers }));
  if (!res.webSocket) return { status: res.status, body: await res.text(), ws: null, messages: [] as Received[] };
  const ws = res.webSocket;
  const messages: Received[] = [];
  ws.addEventListener("message", (e) => messages.push(JSON.parse(e.data as string)));
  ws.accept();
  return { status: res.status, body: "", ws, messages };
}

const until = (messages: Received[], done: (m: Received[]) => boolean) => waitFor(async () => messages, done);

beforeAll(async () => {
  await register(echoAgent("echo-a"));
});

describe("squad streams", () => {
  it("delivers events live, in seq order, to every client", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy() });
    const a = await connect(`/api/v1/squads/${squad}/stream`);
    const b = await connect(`/api/v1/squads/${squad}/stream`);
    expect(a.status).toBe(101);
    const taskId = await submit(squad, { capability: "echo", input: "live" });
    await waitTask(squad, taskId);
    for (const client of [a, b]) {
      await until(client.messages, (m) => m.some((e) => e.type === "task.completed"));
      expect(client.messages.map((e) => e.type)).toEqual(["task.queued", "task.started", "task.completed"]);
      const seqs = client.messages.map((e) => e.seq);
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
      expect(client.messages[2]).toMatchObject({ squadId: squad, data: { taskId, output: "live" } });
      expect(Number.isNaN(Date.parse(client.messages[0]!.ts))).toBe(false);
    }
    a.ws!.close();
    b.ws!.close();
  });

  it("replays what a reconnecting client missed with ?since=seq", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy() });
    for (const input of [1, 2, 3]) await waitTask(squad, await submit(squad, { capability: "echo", input }));
    const all = await events(squad);
    expect(all).toHaveLength(9);
    const from = all[3]!.seq;
    const late = await connect(`/api/v1/squads/${squad}/stream?since=${from}`);
    await until(late.messages, (m) => m.length >= all.length - 4);
    expect(late.messages.map((e) => e.seq)).toEqual(all.slice(4).map((e) => e.seq));
    // and it keeps receiving live events after the replay
    await waitTask(squad, await submit(squad, { capability: "echo", input: 4 }));
    await until(late.messages, (m) => m.length === all.length - 4 + 3);
    const seqs = late.messages.map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => from + 1 + i));
    late.ws!.close();
  });

  it("a client that went away does not block the squad or other clients", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy() });
    const gone = await connect(`/api/v1/squads/${squad}/stream`);
    const stays = await connect(`/api/v1/squads/${squad}/stream`);
    gone.ws!.close(1000, "bye");
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await submit(squad, { capability: "echo", input: i }));
    for (const id of ids) expect((await waitTask(squad, id)).status).toBe("completed");
    await until(stays.messages, (m) => m.filter((e) => e.type === "task.completed").length === 5);
    stays.ws!.close();
  });

  it("accepts a short-lived stream token instead of a header, bound to its squad", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy() });
    const other = await createSquad({ members: [{ agent: "echo-a" }], policy: policy() });
    const issued = await api("POST", `/api/v1/squads/${squad}/stream-token`);
    expect(issued.status).toBe(201);
    expect(Date.parse(issued.json.expiresAt)).toBeGreaterThan(Date.now());
    const viaToken = await connect(issued.json.url, { token: null });
    expect(viaToken.status).toBe(101);
    await waitTask(squad, await submit(squad, { capability: "echo", input: "t" }));
    await until(viaToken.messages, (m) => m.some((e) => e.type === "task.completed"));
    viaToken.ws!.close();

    const token = encodeURIComponent(issued.json.token);
    const wrongSquad = await connect(`/api/v1/squads/${other}/stream?token=${token}`, { token: null });
    expect(wrongSquad.status).toBe(401);
    const forged = await connect(`/api/v1/squads/${squad}/stream?token=${token.slice(0, -4)}AAAA`, { token: null });
    expect(forged.status).toBe(401);
    expect((await connect(`/api/v1/squads/${squad}/stream`, { token: null })).status).toBe(401);
    expect((await connect(`/api/v1/squads/${squad}/stream`, { token: "tdk_wrong" })).status).toBe(401);
    // an internal header sent by a client is not trusted
    const res = await exports.default.fetch(
      new Request(`http://localhost/api/v1/squads/${squad}/stream?token=x`, { headers: { upgrade: "websocket", "x-tdev-stream-principal": "admin" } }),
    );
    expect(res.status).toBe(401);
    // not an upgrade
    expect((await api("GET", `/api/v1/squads/${squad}/stream`)).status).toBe(400);
  });

  it("lets other areas publish into a squad's stream through its RPC", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy() });
    const client = await connect(`/api/v1/squads/${squad}/stream`);
    const published = await publishToSquad(env, squad, "topic.message", { hello: 1 });
    expect(published).toEqual({ ok: true, value: { seq: 1 } });
    await until(client.messages, (m) => m.length === 1);
    expect(client.messages[0]).toMatchObject({ type: "topic.message", seq: 1, squadId: squad, data: { hello: 1 } });
    expect(await publishToSquad(env, squad, "Not A Type!", {})).toMatchObject({ ok: false, code: "validation_failed" });
    client.ws!.close();
  });

  it("answers pings and replay requests over the socket, and rejects junk frames", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy() });
    await waitTask(squad, await submit(squad, { capability: "echo", input: 1 }));
    const client = await connect(`/api/v1/squads/${squad}/stream`);
    client.ws!.send(JSON.stringify({ type: "ping", v: 1 }));
    await until(client.messages, (m) => m.some((e) => e.type === "pong"));
    expect(client.messages.find((e) => e.type === "pong")).toMatchObject({ lastSeq: 3 });
    client.ws!.send(JSON.stringify({ type: "replay", v: 1, since: 1 }));
    await until(client.messages, (m) => m.filter((e) => e.type.startsWith("task.")).length === 2);
    client.ws!.send("not json");
    await until(client.messages, (m) => m.some((e) => e.type === "error"));
    client.ws!.close();
  });
});
