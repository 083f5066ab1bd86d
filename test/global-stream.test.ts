import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { chooseTopics, parseSince, wants } from "../src/observability/topics";
import { ADMIN_KEY, api } from "./helpers";
import { createSquad, echoAgent, policy, register, submit, waitFor, waitTask } from "./squad-helpers";

interface Frame {
  topic: string;
  type: string;
  seq: number;
  ts: string;
  data: any;
}

/** Opens WS /api/v1/stream the way a client does: an upgrade through the worker. */
async function connect(query: string, token: string | null = ADMIN_KEY) {
  const headers: Record<string, string> = { upgrade: "websocket" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await exports.default.fetch(new Request(`http://localhost/api/v1/stream${query}`, { headers }));
  const frames: Frame[] = [];
  if (!res.webSocket) return { status: res.status, body: await res.text(), ws: null, frames };
  res.webSocket.addEventListener("message", (e) => void frames.push(JSON.parse(e.data as string)));
  res.webSocket.accept();
  return { status: res.status, body: "", ws: res.webSocket, frames };
}

const until = (frames: Frame[], done: (f: Frame[]) => boolean) => waitFor(async () => frames, done);

async function keyWith(scopes: string[]) {
  const res = await api("POST", "/api/v1/keys", { body: { name: `k-${scopes.join("-")}`, scopes } });
  expect(res.status, res.text).toBe(201);
  return res.json.key as string;
}

beforeAll(async () => {
  await register(echoAgent("hub-echo"));
});

describe("topic choice (pure)", () => {
  const read = new Set(["agents:read"]);
  it("defaults to every readable topic, refuses unknown and unreadable ones", () => {
    expect(chooseTopics(undefined, read)).toEqual({ ok: true, topics: ["system", "evolution", "deployments", "squad:*"] });
    expect(chooseTopics(undefined, new Set(["squads:run"]))).toMatchObject({ ok: false, code: "forbidden" });
    expect(chooseTopics("evolution,squad:sqd_1", read)).toEqual({ ok: true, topics: ["evolution", "squad:sqd_1"] });
    expect(chooseTopics("secrets", read)).toMatchObject({ ok: false, code: "bad_request" });
    expect(chooseTopics("squad:../x", read)).toMatchObject({ ok: false, code: "bad_request" });
  });
  it("matches squad:* to every squad and parses since", () => {
    expect(wants(["squad:*"], "squad:sqd_9")).toBe(true);
    expect(wants(["squad:sqd_1"], "squad:sqd_9")).toBe(false);
    expect(parseSince("7")).toEqual({ all: 7, byTopic: {} });
    expect(parseSince("squad:sqd_1=4,evolution=2")).toEqual({ byTopic: { "squad:sqd_1": 4, evolution: 2 } });
    expect(parseSince("nope=x")).toBeNull();
  });
});

describe("WS /api/v1/stream", () => {
  it("carries squad events live as {topic, type, seq, ts, data}, and resumes with ?since=", async () => {
    const squad = await createSquad({ members: [{ agent: "hub-echo" }], policy: policy() });
    const live = await connect("");
    expect(live.status).toBe(101);
    const taskId = await submit(squad, { capability: "echo", input: "hi" });
    await waitTask(squad, taskId);
    await until(live.frames, (f) => f.some((e) => e.topic === `squad:${squad}` && e.type === "task.completed"));
    const mine = live.frames.filter((f) => f.topic === `squad:${squad}`);
    expect(mine.map((f) => f.type)).toEqual(["task.queued", "task.started", "task.completed"]);
    expect(mine[2]).toMatchObject({ data: { taskId, output: "hi" } });
    expect(Number.isNaN(Date.parse(mine[0]!.ts))).toBe(false);
    live.ws!.close();

    const resumed = await connect(`?topics=squad:${squad}&since=squad:${squad}=${mine[0]!.seq}`);
    await until(resumed.frames, (f) => f.length >= 2);
    expect(resumed.frames.map((f) => f.type)).toEqual(["task.started", "task.completed"]);
    resumed.ws!.close();
  });

  it("carries system events (agent published) to a socket on the system topic", async () => {
    const sys = await connect("?topics=system");
    await register(echoAgent("hub-new-agent"));
    await until(sys.frames, (f) => f.some((e) => e.type === "agent.published" && JSON.stringify(e.data).includes("hub-new-agent")));
    expect(sys.frames.every((f) => f.topic === "system")).toBe(true);
    sys.ws!.close();
  });

  it("never sends a topic the socket did not choose, and refuses what the credential cannot read", async () => {
    const squad = await createSquad({ members: [{ agent: "hub-echo" }], policy: policy() });
    const evolutionOnly = await connect("?topics=evolution");
    await waitTask(squad, await submit(squad, { capability: "echo", input: 1 }));
    const watcher = await connect(`?topics=squad:${squad}&since=0`);
    await until(watcher.frames, (f) => f.some((e) => e.type === "task.completed"));
    expect(evolutionOnly.frames.filter((f) => f.topic.startsWith("squad:"))).toEqual([]);
    evolutionOnly.ws!.close();
    watcher.ws!.close();

    const runOnly = await keyWith(["squads:run"]);
    expect((await connect("", runOnly)).status).toBe(403);
    expect((await connect("?topics=evolution", runOnly)).status).toBe(403);
    expect((await connect("", null)).status).toBe(401);
    expect((await connect("?topics=secret-topic")).status).toBe(400);
  });

  it("opens from a browser with a token bound to its topics", async () => {
    const reader = await keyWith(["agents:read"]);
    const issued = await api("POST", "/api/v1/stream-token?topics=system", { token: reader });
    expect(issued.status, issued.text).toBe(201);
    const ok = await connect(issued.json.url.slice("/api/v1/stream".length), null);
    expect(ok.status).toBe(101);
    ok.ws!.close();
    // The same token cannot widen its topics.
    const widened = await connect(`?topics=system,evolution&token=${encodeURIComponent(issued.json.token)}`, null);
    expect(widened.status).toBe(401);
    expect((await connect("?topics=system&token=forged", null)).status).toBe(401);
  });
});
