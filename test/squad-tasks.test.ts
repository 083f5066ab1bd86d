import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { api } from "./helpers";
import { constAgent, createSquad, echoAgent, events, failingAgent, policy, register, sleep, slowAgent, submit, waitFor, waitTask } from "./squad-helpers";

beforeAll(async () => {
  await register(
    echoAgent("echo-a"),
    echoAgent("echo-b"),
    failingAgent("broken"),
    constAgent("yes-1", { v: "yes" }),
    constAgent("yes-2", { v: "yes" }),
    constAgent("no-1", { v: "no" }),
    slowAgent("sleepy", 3000, ["echo"]),
  );
});

describe("squad lifecycle", () => {
  it("creates, lists, reads, updates and deletes a squad", async () => {
    const created = await api("POST", "/api/v1/squads", { body: { name: "crew", members: [{ agent: "echo-a" }, { agent: "echo-b", weight: 2 }], policy: policy() } });
    expect(created.status).toBe(201);
    expect(created.json.id).toMatch(/^sqd_/);
    expect(created.json.members[0]).toEqual({ agent: "echo-a", weight: 1 });
    const id = created.json.id;
    const listed = await api("GET", "/api/v1/squads?limit=100");
    expect(listed.json.items.map((s: { id: string }) => s.id)).toContain(id);
    const detail = await api("GET", `/api/v1/squads/${id}`);
    expect(detail.json.stats).toMatchObject({ tasks: { queued: 0, running: 0 }, members: [{ member: "echo-a#live", breaker: "closed" }, { member: "echo-b#live" }] });
    const updated = await api("PUT", `/api/v1/squads/${id}`, { body: { name: "crew 2", members: [{ agent: "echo-a", version: "1.0.0" }], policy: policy({ maxConcurrency: 2 }) } });
    expect(updated.status).toBe(200);
    expect(updated.json).toMatchObject({ name: "crew 2", policy: { maxConcurrency: 2 } });
    expect((await api("DELETE", `/api/v1/squads/${id}`)).status).toBe(204);
    expect((await api("GET", `/api/v1/squads/${id}`)).status).toBe(404);
    expect((await api("POST", `/api/v1/squads/${id}/tasks`, { body: { capability: "echo", input: 1 } })).status).toBe(404);
  });

  it("refuses bad squads with a problem naming the field, and writes nothing", async () => {
    const before = (await api("GET", "/api/v1/squads?limit=100")).json.items.length;
    const dup = await api("POST", "/api/v1/squads", { body: { name: "x", members: [{ agent: "echo-a" }, { agent: "echo-a", channel: "live" }] } });
    expect(dup.status).toBe(422);
    expect(dup.json.errors[0].path).toBe("members.1");
    const both = await api("POST", "/api/v1/squads", { body: { name: "x", members: [{ agent: "echo-a", channel: "live", version: "1.0.0" }] } });
    expect(both.status).toBe(422);
    expect((await api("POST", "/api/v1/squads", { body: { name: "x", members: [] } })).status).toBe(422);
    expect((await api("GET", "/api/v1/squads?limit=100")).json.items.length).toBe(before);
    expect((await api("GET", "/api/v1/squads/sqd_nope")).status).toBe(404);
  });

  it("needs squads:run to change and agents:read to read", async () => {
    const key = await api("POST", "/api/v1/keys", { body: { name: "reader", scopes: ["agents:read"] } });
    if (key.status !== 201) return expect.fail(`could not create a key: ${key.status} ${key.text}`);
    const token = key.json.key as string;
    expect((await api("POST", "/api/v1/squads", { token, body: { name: "x", members: [{ agent: "echo-a" }] } })).status).toBe(403);
    expect((await api("GET", "/api/v1/squads", { token })).status).toBe(200);
    expect((await api("GET", "/api/v1/squads", { token: null })).status).toBe(401);
    // The same scopes hold on the routers mounted inside squads (runs, events and streams).
    expect((await api("POST", "/api/v1/squads/sqd_nope/runs", { token, body: { workflow: "w", input: 1 } })).status).toBe(403);
    expect((await api("GET", "/api/v1/squads/sqd_nope/runs", { token })).status).toBe(404);
    expect((await api("GET", "/api/v1/squads/sqd_nope/events", { token })).status).toBe(404);
    // Only POST …/{id}/stream-token is a read among the writes: a change whose last segment says so is not.
    expect((await api("POST", "/api/v1/squads/sqd_nope/stream-token", { token })).status).toBe(404);
    expect((await api("DELETE", "/api/v1/squads/sqd_nope/tasks/stream-token", { token })).status).toBe(403);
    expect((await api("PUT", "/api/v1/squads/stream-token", { token, body: { name: "x", members: [{ agent: "echo-a" }] } })).status).toBe(403);
    expect((await api("DELETE", "/api/v1/squads/stream-token", { token })).status).toBe(403);
  });
});

describe("tasks", () => {
  it("runs a task to completion and records the member, attempts and events", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy() });
    const res = await api("POST", `/api/v1/squads/${squad}/tasks`, { body: { capability: "echo", input: { hello: "world" } } });
    expect(res.status).toBe(202);
    expect(res.headers.get("location")).toBe(`/api/v1/squads/${squad}/tasks/${res.json.taskId}`);
    const task = await waitTask(squad, res.json.taskId);
    expect(task).toMatchObject({ status: "completed", priority: 5, attempts: 1, member: "echo-a#live", output: { hello: "world" }, error: null });
    expect(Date.parse(task.finishedAt)).toBeGreaterThanOrEqual(Date.parse(task.startedAt));
    const types = (await events(squad)).filter((e) => e.data.taskId === task.taskId).map((e) => e.type);
    expect(types).toEqual(["task.queued", "task.started", "task.completed"]);
    const list = await api("GET", `/api/v1/squads/${squad}/tasks?status=completed`);
    expect(list.json.items.map((t: { taskId: string }) => t.taskId)).toEqual([task.taskId]);
  });

  it("routes by named agent, and an idempotency key returns the same task", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }, { agent: "echo-b" }], policy: policy() });
    const headers = { "idempotency-key": "k-1" };
    const a = await api("POST", `/api/v1/squads/${squad}/tasks`, { headers, body: { agent: "echo-b", input: 1 } });
    const b = await api("POST", `/api/v1/squads/${squad}/tasks`, { headers, body: { agent: "echo-b", input: 1 } });
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(b.json).toEqual({ taskId: a.json.taskId, duplicate: true });
    expect(await waitTask(squad, a.json.taskId)).toMatchObject({ status: "completed", member: "echo-b#live" });
    expect((await api("GET", `/api/v1/squads/${squad}/tasks`)).json.items).toHaveLength(1);
  });

  it("refuses tasks no member can take, naming the field", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy() });
    const none = await api("POST", `/api/v1/squads/${squad}/tasks`, { body: { capability: "translate", input: 1 } });
    expect(none.status).toBe(422);
    expect(none.json.errors).toEqual([{ path: "capability", message: "no member of this squad offers capability translate" }]);
    const notMember = await api("POST", `/api/v1/squads/${squad}/tasks`, { body: { agent: "echo-b", input: 1 } });
    expect(notMember.json.errors[0].path).toBe("agent");
    const tooFew = await api("POST", `/api/v1/squads/${squad}/tasks`, { body: { capability: "echo", input: 1, consensus: { n: 2, strategy: "majority" } } });
    expect(tooFew.json.errors[0].path).toBe("consensus.n");
    const both = await api("POST", `/api/v1/squads/${squad}/tasks`, { body: { capability: "echo", agent: "echo-a", input: 1 } });
    expect(both.status).toBe(422);
    const badPriority = await api("POST", `/api/v1/squads/${squad}/tasks`, { body: { capability: "echo", input: 1, priority: 10 } });
    expect(badPriority.json.errors[0].path).toBe("priority");
    expect((await api("GET", `/api/v1/squads/${squad}/tasks`)).json.items).toHaveLength(0);
  });

  it("pages the task list newest first with a cursor, filtering by status", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy({ paused: true }) });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await submit(squad, { capability: "echo", input: i }));
    await api("DELETE", `/api/v1/squads/${squad}/tasks/${ids[1]}`);
    const first = await api("GET", `/api/v1/squads/${squad}/tasks?limit=2`);
    expect(first.json.items.map((t: { taskId: string }) => t.taskId)).toEqual([ids[4], ids[3]]);
    const second = await api("GET", `/api/v1/squads/${squad}/tasks?limit=2&cursor=${first.json.nextCursor}`);
    expect(second.json.items.map((t: { taskId: string }) => t.taskId)).toEqual([ids[2], ids[1]]);
    const last = await api("GET", `/api/v1/squads/${squad}/tasks?limit=2&cursor=${second.json.nextCursor}`);
    expect(last.json).toMatchObject({ items: [{ taskId: ids[0] }], nextCursor: null });
    const queued = await api("GET", `/api/v1/squads/${squad}/tasks?status=queued&limit=100`);
    expect(queued.json.items).toHaveLength(4);
    expect((await api("GET", `/api/v1/squads/${squad}/tasks?cursor=garbage`)).status).toBe(400);
  });

  it("cancels a queued task, and refuses to cancel it twice", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy({ paused: true }) });
    const taskId = await submit(squad, { capability: "echo", input: 1 });
    const cancelled = await api("DELETE", `/api/v1/squads/${squad}/tasks/${taskId}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.json).toMatchObject({ status: "cancelled", error: { code: "cancelled" } });
    expect((await api("DELETE", `/api/v1/squads/${squad}/tasks/${taskId}`)).status).toBe(409);
    expect((await api("GET", `/api/v1/squads/${squad}/tasks/tsk_nope`)).status).toBe(404);
  });

  it("fails a task whose deadline passes while it waits", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy() });
    const taskId = await submit(squad, { capability: "echo", input: 1, deadline: new Date(Date.now() - 1000).toISOString() });
    expect(await waitTask(squad, taskId)).toMatchObject({ status: "failed", error: { code: "deadline_exceeded" }, attempts: 0 });
  });
});

describe("priority and aging", () => {
  const startOrder = async (squad: string) => (await events(squad)).filter((e) => e.type === "task.started").map((e) => e.data.taskId as string);

  it("under a backlog dispatches strictly by priority, first-in first-out within one", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy({ maxConcurrency: 1, paused: true }) });
    const priorities = [1, 5, 9, 5, 0, 9, 3, 5, 7, 1];
    const ids: { id: string; priority: number; i: number }[] = [];
    for (const [i, priority] of priorities.entries()) ids.push({ id: await submit(squad, { capability: "echo", input: i, priority }), priority, i });
    const unpause = await api("PUT", `/api/v1/squads/${squad}`, { body: { name: "p", members: [{ agent: "echo-a" }], policy: policy({ maxConcurrency: 1 }) } });
    expect(unpause.status).toBe(200);
    await waitFor(
      () => startOrder(squad),
      (o) => o.length === priorities.length,
    );
    const expected = [...ids].sort((a, b) => b.priority - a.priority || a.i - b.i).map((t) => t.id);
    expect(await startOrder(squad)).toEqual(expected);
    for (const t of ids) expect((await waitTask(squad, t.id)).status).toBe("completed");
  });

  it("never runs more than maxConcurrency tasks at once", async () => {
    await register(slowAgent("plodder", 150, ["plod"]));
    const members = [{ agent: "plodder" }];
    const squad = await createSquad({ members, policy: policy({ maxConcurrency: 2, paused: true }) });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await submit(squad, { capability: "plod", input: i }));
    await api("PUT", `/api/v1/squads/${squad}`, { body: { name: "c", members, policy: policy({ maxConcurrency: 2 }) } });
    for (const id of ids) expect((await waitTask(squad, id)).status).toBe("completed");
    // Replay the event log: +1 at task.started, -1 at task.completed.
    let running = 0;
    let peak = 0;
    for (const e of await events(squad)) {
      if (e.type === "task.started") peak = Math.max(peak, ++running);
      if (e.type === "task.completed") running--;
    }
    expect(peak).toBe(2);
  });

  it("ages a long-waiting low-priority task past fresh urgent work", async () => {
    const squad = await createSquad({ members: [{ agent: "echo-a" }], policy: policy({ maxConcurrency: 1, paused: true, agingMs: 1000 }) });
    const old = await submit(squad, { capability: "echo", input: "old", priority: 0 });
    const urgent = await submit(squad, { capability: "echo", input: "urgent", priority: 9 });
    // The low-priority task has waited ten aging periods: effective priority 10 beats 9.
    const stub = env.SQUADS.get(env.SQUADS.idFromName(squad));
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE tasks SET queued_at = queued_at - 10000 WHERE id = ?", old);
    });
    await api("PUT", `/api/v1/squads/${squad}`, { body: { name: "p", members: [{ agent: "echo-a" }], policy: policy({ maxConcurrency: 1, agingMs: 1000 }) } });
    await waitFor(
      () => startOrder(squad),
      (o) => o.length === 2,
    );
    expect(await startOrder(squad)).toEqual([old, urgent]);
  });
});

describe("failover and retries", () => {
  it("fails over to another capable member on error, and opens the failing member's breaker", async () => {
    const squad = await createSquad({ members: [{ agent: "broken" }, { agent: "echo-a" }], policy: policy({ breakerThreshold: 1 }) });
    const taskId = await submit(squad, { capability: "echo", input: "x" });
    const task = await waitTask(squad, taskId);
    expect(task).toMatchObject({ status: "completed", attempts: 2, member: "echo-a#live", output: "x" });
    const evs = await events(squad);
    expect(evs.find((e) => e.type === "task.retried")?.data).toMatchObject({ taskId, failover: true, from: "broken#live", to: "echo-a#live", reason: "agent_failed" });
    expect(evs.find((e) => e.type === "member.breaker.opened")?.data).toMatchObject({ member: "broken#live" });
    // with its breaker open, the broken member is skipped entirely
    const next = await waitTask(squad, await submit(squad, { capability: "echo", input: "y" }));
    expect(next).toMatchObject({ status: "completed", attempts: 1, member: "echo-a#live" });
    expect((await api("GET", `/api/v1/squads/${squad}`)).json.stats.members[0]).toMatchObject({ member: "broken#live", breaker: "open" });
  });

  it("fails over when an attempt times out", async () => {
    const squad = await createSquad({ members: [{ agent: "sleepy" }, { agent: "echo-a" }], policy: policy({ taskTimeoutMs: 200, breakerThreshold: 100 }) });
    const taskId = await submit(squad, { capability: "echo", input: "late" });
    expect(await waitTask(squad, taskId)).toMatchObject({ status: "completed", attempts: 2, member: "echo-a#live", output: "late" });
    expect((await events(squad)).find((e) => e.type === "task.retried")?.data).toMatchObject({ from: "sleepy#live", reason: "agent_timeout" });
  });

  it("closes a member's breaker once a trial after the cooldown succeeds", async () => {
    await register(failingAgent("flappy", ["flap"]));
    const squad = await createSquad({ members: [{ agent: "flappy" }], policy: policy({ breakerThreshold: 1, breakerCooldownMs: 100 }) });
    expect(await waitTask(squad, await submit(squad, { capability: "flap", input: 1 }))).toMatchObject({ status: "failed", error: { code: "agent_failed" } });
    // The member recovers: its live channel moves to a working version.
    expect((await api("PUT", "/api/v1/agents/flappy", { body: { ...echoAgent("flappy", ["flap"]), version: "1.0.1" } })).status).toBe(201);
    expect((await api("PUT", "/api/v1/agents/flappy/channels/live", { body: { version: "1.0.1" } })).status).toBe(200);
    await sleep(150); // past the cooldown
    expect(await waitTask(squad, await submit(squad, { capability: "flap", input: 2 }))).toMatchObject({ status: "completed", output: 2 });
    const types = (await events(squad)).map((e) => e.type).filter((t) => t.startsWith("member."));
    expect(types).toEqual(["member.breaker.opened", "member.breaker.closed"]);
  });

  it("retries in rounds with backoff, then fails with the last error", async () => {
    const squad = await createSquad({ members: [{ agent: "broken" }], policy: policy({ breakerThreshold: 100 }) });
    const taskId = await submit(squad, { capability: "echo", input: 1, retries: 2 });
    const task = await waitTask(squad, taskId);
    expect(task).toMatchObject({ status: "failed", attempts: 3, error: { code: "agent_failed" } });
    const retried = (await events(squad)).filter((e) => e.type === "task.retried").map((e) => e.data);
    expect(retried).toMatchObject([
      { failover: false, round: 1, delayMs: 250 },
      { failover: false, round: 2, delayMs: 500 },
    ]);
  });
});

describe("consensus", () => {
  const members = [{ agent: "yes-1" }, { agent: "yes-2" }, { agent: "no-1" }];

  it("majority: the canonical-JSON majority wins, with its agreement ratio and every answer", async () => {
    const squad = await createSquad({ members, policy: policy() });
    const task = await waitTask(squad, await submit(squad, { capability: "vote", input: 1, consensus: { n: 3, strategy: "majority" } }));
    expect(task).toMatchObject({ status: "completed", output: { v: "yes" }, attempts: 3 });
    expect(task.consensus.agreement).toBeCloseTo(2 / 3);
    expect(task.consensus.answers.map((a: { member: string; output: unknown }) => [a.member, a.output]).sort()).toEqual([
      ["no-1#live", { v: "no" }],
      ["yes-1#live", { v: "yes" }],
      ["yes-2#live", { v: "yes" }],
    ]);
  });

  it("unanimous: a single dissent fails the task with no_consensus, still recording the answers", async () => {
    const squad = await createSquad({ members, policy: policy() });
    const task = await waitTask(squad, await submit(squad, { capability: "vote", input: 1, consensus: { n: 3, strategy: "unanimous" } }));
    expect(task).toMatchObject({ status: "failed", error: { code: "no_consensus" } });
    expect(task.consensus.agreement).toBeCloseTo(2 / 3);
    expect(task.consensus.answers).toHaveLength(3);
    const agreed = await createSquad({ members: [{ agent: "yes-1" }, { agent: "yes-2" }], policy: policy() });
    const ok = await waitTask(agreed, await submit(agreed, { capability: "vote", input: 1, consensus: { n: 2, strategy: "unanimous" } }));
    expect(ok).toMatchObject({ status: "completed", output: { v: "yes" }, consensus: { agreement: 1 } });
  });

  it("first: takes the first answer to arrive and reports how many agreed with it", async () => {
    const squad = await createSquad({ members, policy: policy() });
    const task = await waitTask(squad, await submit(squad, { capability: "vote", input: 1, consensus: { n: 3, strategy: "first" } }));
    expect(task.status).toBe("completed");
    const answers = task.consensus.answers as { member: string; output: unknown }[];
    expect(answers[0]!.output).toEqual(task.output);
    const same = answers.filter((a) => JSON.stringify(a.output) === JSON.stringify(task.output)).length;
    expect(task.consensus.agreement).toBeCloseTo(same / 3);
  });

  it("replaces a failing member with another capable one", async () => {
    await register(failingAgent("broken-voter", ["vote"]));
    const squad = await createSquad({ members: [{ agent: "broken-voter" }, { agent: "yes-1" }, { agent: "yes-2" }], policy: policy() });
    const task = await waitTask(squad, await submit(squad, { capability: "vote", input: 1, consensus: { n: 2, strategy: "unanimous" } }));
    expect(task).toMatchObject({ status: "completed", output: { v: "yes" }, consensus: { agreement: 1 } });
  });
});
