import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { QUEUE_NAMES } from "../src/messaging/address";
import { handleQueue } from "../src/messaging/consumer";
import { sealDraft } from "../src/messaging/producer";
import { api } from "./helpers";
import { waitFor } from "./messaging-helpers";
import { createSquad, echoAgent, register } from "./squad-helpers";
import { RECEIPT_SHARDS } from "../src/messaging/receipts";
import { inEveryShard } from "./receipt-helpers";

const tasksOf = async (squad: string) =>
  (await api("GET", `/api/v1/squads/${squad}/tasks?limit=100`)).json.items as { taskId: string; status: string; input: unknown; output: unknown }[];

let queueIds = 0;
async function consume(bodies: unknown[]) {
  const batch = createMessageBatch(
    QUEUE_NAMES.high,
    bodies.map((body) => ({ id: `sq${++queueIds}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await handleQueue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

describe("messages to squads", () => {
  it("a task message becomes one squad task that runs, acting as the sender", async () => {
    await register(echoAgent("msq-echo"));
    const squad = await createSquad({ members: [{ agent: "msq-echo" }] });
    const sent = await api("POST", "/api/v1/messages", { body: { to: { squad }, priority: 8, payload: { capability: "echo", input: { n: 1 } } } });
    expect(sent.status).toBe(202);
    const [task] = await waitFor(
      async () => {
        const tasks = await tasksOf(squad);
        return tasks.length === 1 && tasks[0]!.status === "completed" && tasks;
      },
      20_000,
      "the completed task",
    );
    expect(task).toMatchObject({ input: { n: 1 }, output: { n: 1 } });
  });

  it("redelivery, and a lost receipt, still make one task: the squad dedupes by the same key", async () => {
    await register(echoAgent("msq-once"));
    const squad = await createSquad({ members: [{ agent: "msq-once" }] });
    const envelope = await sealDraft(env, { to: { squad }, priority: 8, payload: { capability: "echo", input: "once" }, actor: "test", idempotencyKey: "order-7" });
    const body = { v: 1, envelope, deferrals: 0 };
    await consume([body]);
    await consume([body]);
    // The crash window: the effect happened but its receipt is gone; the squad still says duplicate.
    await inEveryShard(RECEIPT_SHARDS, "DELETE FROM receipts WHERE message_id = ?", envelope.id);
    const third = await consume([body]);
    expect(third.explicitAcks).toHaveLength(1);
    expect(third.retryMessages).toEqual([]);
    expect(await tasksOf(squad)).toHaveLength(1);
  });

  it("a task for an unknown squad or an invalid task is dead-lettered as rejected, without retries", async () => {
    const unknown = await sealDraft(env, { to: { squad: "sqd_0190000000000000000000000000" }, priority: 8, payload: { capability: "echo", input: 1 }, actor: "test" });
    const result = await consume([{ v: 1, envelope: unknown, deferrals: 0 }]);
    expect(result.retryMessages).toEqual([]);
    const letter = (await api("GET", `/api/v1/dead-letters/${unknown.id}`)).json;
    expect(letter).toMatchObject({ reason: "rejected", target: "squad:sqd_0190000000000000000000000000", kind: "task" });
  });

  it("a squad subscription turns each matching event into a task with the event as input", async () => {
    await register(echoAgent("msq-sub"));
    const squad = await createSquad({ members: [{ agent: "msq-sub" }] });
    const sub = await api("POST", "/api/v1/topics/deploys/subscriptions", { body: { type: "squad", squad, task: { capability: "echo" }, eventTypes: ["deploy.*"] } });
    expect(sub.status).toBe(201);
    await api("POST", "/api/v1/topics/deploys/events", { body: { type: "other.event", data: 0, priority: 8 } });
    const published = await api("POST", "/api/v1/topics/deploys/events", { body: { type: "deploy.finished", data: { env: "prod" }, priority: 8 } });
    const [task] = await waitFor(
      async () => {
        const tasks = await tasksOf(squad);
        return tasks.length > 0 && tasks[0]!.status === "completed" && tasks;
      },
      20_000,
      "the subscription's task",
    );
    expect(task!.input).toMatchObject({ id: published.json.id, type: "deploy.finished", data: { env: "prod" } });
    // A later event is a barrier: once its task exists, a task for the unmatched event (published first) would too.
    await api("POST", "/api/v1/topics/deploys/events", { body: { type: "deploy.barrier", data: 0, priority: 8 } });
    const all = await waitFor(
      async () => {
        const tasks = await tasksOf(squad);
        return tasks.length > 1 && tasks;
      },
      20_000,
      "the barrier's task",
    );
    expect(all.map((t) => (t.input as { type: string }).type).sort()).toEqual(["deploy.barrier", "deploy.finished"]);
  });
});
