import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { QUEUE_NAMES } from "../src/messaging/address";
import { handleQueue } from "../src/messaging/consumer";
import { deliver, type Deliver } from "../src/messaging/deliver";
import { sealDraft } from "../src/messaging/producer";
import { createSubscription } from "../src/messaging/subscriptions";
import { failingD1 } from "./faulty-d1";
import { expireClaims, watchedReceipts } from "./receipt-helpers";
import { api } from "./helpers";
import { waitFor, webhookReceiver } from "./messaging-helpers";
import { createSquad, echoAgent, register } from "./squad-helpers";

// Queues hands a batch to one invocation; if it throws, every message it did not acknowledge comes back
// (whole, when it acknowledged none). Here the receipt store or D1 fails at each write the consumer makes,
// before or after the effects, and what comes back is redelivered until every message is acknowledged:
// each effect happens once.

let receiver: ReturnType<typeof webhookReceiver>;
let logs: ReturnType<typeof vi.spyOn>[];
beforeEach(() => {
  receiver = webhookReceiver();
  // The consumer logs what failed; expected here.
  logs = [vi.spyOn(console, "error").mockImplementation(() => {}), vi.spyOn(console, "warn").mockImplementation(() => {})];
});
afterEach(() => {
  receiver.restore();
  for (const l of logs) l.mockRestore();
});

/** Where the first delivery fails: receipt shard calls (claims before the effects, settlements after), or D1 statements (dead letters, after). */
interface Fault {
  receipts?: "claim" | "settle";
  d1?: RegExp;
  failures: number;
}
const DEAD_LETTER_WRITE = /^insert into "dead_letters"/;

let queueIds = 0;

async function mixedBatch(tag: string, withSquad = true) {
  await register(echoAgent(`rd-${tag}`), echoAgent(`rd-${tag}-member`));
  // The squad runs an agent of its own, so the agent's runs count only the agent message's effect.
  const squad = withSquad ? await createSquad({ members: [{ agent: `rd-${tag}-member` }] }) : undefined;
  const sub = await createSubscription(env, `rd-${tag}`, { type: "webhook", url: `https://hooks.test/${tag}`, eventTypes: [] }, "test");
  const envelopes = await Promise.all([
    ...(squad ? [sealDraft(env, { to: { squad }, priority: 5, payload: { capability: "echo", input: tag }, actor: "test" })] : []),
    sealDraft(env, { to: { agent: `rd-${tag}` }, priority: 5, payload: { tag }, actor: "test" }),
    sealDraft(env, {
      to: { subscription: sub.id },
      priority: 5,
      payload: { topic: `rd-${tag}`, event: { id: `evt_${tag}`, type: "t", data: tag, time: new Date().toISOString() } },
      actor: "test",
    }),
  ]);
  // One message that is not ours: it is dead-lettered, so the consumer writes a dead letter too.
  const bodies = [...envelopes.map((envelope) => ({ v: 1, envelope, deferrals: 0 })), { not: "a message" }];
  return { squad, envelopes, messages: bodies.map((body) => ({ id: `rd-q${++queueIds}`, body })) };
}

/** Delivers `messages` as Queues would, failing as `fault` says during the first delivery, until all are acknowledged. */
async function deliverUntilAcked(messages: { id: string; body: unknown }[], fault: Fault) {
  const effects: string[] = [];
  const counting: Deliver = (e, d) => (effects.push(d.envelope.id), deliver(e, d));
  const faulty = failingD1(env.DB, fault.d1 ?? /^$never/, fault.d1 ? fault.failures : 0);
  const receipts = watchedReceipts(env.RECEIPTS, fault.receipts ? [fault.receipts] : [], fault.receipts ? fault.failures : 0);
  const thrown: unknown[] = [];
  let pending = messages;
  for (let attempt = 1; pending.length > 0 && attempt <= 4; attempt++) {
    const batch = createMessageBatch(
      QUEUE_NAMES.normal,
      pending.map((m) => ({ ...m, timestamp: new Date(), attempts: attempt })),
    );
    const ctx = createExecutionContext();
    await handleQueue(batch, attempt === 1 ? { ...env, DB: faulty.db, RECEIPTS: receipts.store } : env, ctx, counting).catch((e: unknown) => thrown.push(e));
    const result = await getQueueResult(batch, ctx);
    // Whatever was not acknowledged comes back: retried ones, and all of them when the handler threw.
    pending = pending.filter((m) => !result.explicitAcks.includes(m.id));
    // A message found busy is retried when its claim's lease ends: let that time pass.
    await expireClaims();
  }
  return { effects, failed: [...faulty.failed, ...receipts.failed], thrown, pending };
}

const webhookPosts = (tag: string) => receiver.to(`/${tag}`).length;
const squadTasks = async (squad: string) => ((await api("GET", `/api/v1/squads/${squad}/tasks?limit=100`)).json.items as unknown[]).length;
const deadLetters = async (id: string) => (await env.DB.prepare("select id from dead_letters where id = ?").bind(`qm_${id}`).all()).results.length;
/** Runs of the agent, once the first record has landed (records are written just behind each run). */
const agentRuns = async (tag: string) =>
  (
    await waitFor(
      async () => {
        const items = (await api("GET", `/api/v1/runs?agent=rd-${tag}&limit=100`)).json.items as unknown[];
        return items.length > 0 && items;
      },
      10_000,
      "the agent run's record",
    )
  ).length;

describe("a batch whose handler fails is redelivered, and each effect happens once", () => {
  it("a receipt shard fails a claim (before any effect): its messages come back and run once; the rest run at once", async () => {
    const made = await mixedBatch("before");
    const run = await deliverUntilAcked(made.messages, { receipts: "claim", failures: 1 });
    expect(run.failed).toHaveLength(1);
    expect(run.thrown).toHaveLength(0);
    expect(run.pending).toEqual([]);
    expect(run.effects.sort(), "deliveries").toEqual(made.envelopes.map((e) => e.id).sort());
    expect({
      webhook: webhookPosts("before"),
      tasks: await squadTasks(made.squad!),
      runs: await agentRuns("before"),
      deadLetters: await deadLetters(made.messages.at(-1)!.id),
    }).toEqual({ webhook: 1, tasks: 1, runs: 1, deadLetters: 1 });
  });

  it("recording how the batch ended fails once (after the effects), in the receipt store or in D1: the handler writes it again; every effect once", async () => {
    for (const [tag, fault] of [
      ["after", { receipts: "settle", failures: 1 }],
      ["after-d1", { d1: DEAD_LETTER_WRITE, failures: 1 }],
    ] as const) {
      const made = await mixedBatch(tag);
      const run = await deliverUntilAcked(made.messages, fault);
      expect(run.failed, tag).toHaveLength(1);
      expect(run.thrown).toHaveLength(0);
      expect(run.pending).toEqual([]);
      expect(run.effects.sort(), "deliveries").toEqual(made.envelopes.map((e) => e.id).sort());
      // The squad dedupes tasks by the message's key; the dead letter is keyed by the message.
      expect({ tasks: await squadTasks(made.squad!), deadLetters: await deadLetters(made.messages.at(-1)!.id) }).toEqual({ tasks: 1, deadLetters: 1 });
    }
  });

  it("the settlements keep failing: what took effect is acknowledged, the rest comes back; the webhook is POSTed once and the agent runs once", async () => {
    const made = await mixedBatch("after2", false); // no squad: the effects counted are the webhook and the agent run
    const run = await deliverUntilAcked(made.messages, { receipts: "settle", failures: 100 });
    expect(run.failed.length).toBeGreaterThanOrEqual(3);
    expect(run.thrown).toHaveLength(0);
    expect(run.pending).toEqual([]);
    expect({ webhook: webhookPosts("after2"), runs: await agentRuns("after2") }).toEqual({ webhook: 1, runs: 1 });
  });

  it("the dead-letter write keeps failing: the effects are acknowledged once, the refused message comes back and is stored later", async () => {
    const made = await mixedBatch("after3", false);
    const run = await deliverUntilAcked(made.messages, { d1: DEAD_LETTER_WRITE, failures: 3 });
    expect(run.failed).toHaveLength(3);
    expect(run.thrown).toHaveLength(0);
    expect(run.pending).toEqual([]);
    expect({ webhook: webhookPosts("after3"), runs: await agentRuns("after3"), deadLetters: await deadLetters(made.messages.at(-1)!.id) }).toEqual({
      webhook: 1,
      runs: 1,
      deadLetters: 1,
    });
  });
});
