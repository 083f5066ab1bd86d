import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createPendingEvaluation } from "../src/evaluation/store";
import { suiteForAgent, suiteOf } from "../src/evaluation/suite-store";
import { EVOLUTION_DEAD_LETTER_QUEUE } from "../src/evolution/messages";
import worker from "../src/index";
import { DEAD_LETTER_EVENT } from "../src/messaging/dead-letter-alert";
import { createSubscription } from "../src/messaging/subscriptions";
import { registryDb } from "../src/registry/store";
import { api, codeSpec } from "./helpers";
import { waitFor, webhookReceiver } from "./messaging-helpers";

// A long evaluation whose tdev-evolution message runs out of retries lands on tdev-evolution-dlq: without a
// consumer there it would stay "running" for ever. The consumer marks it failed and announces the dead letter.

let receiver: ReturnType<typeof webhookReceiver>;
beforeEach(() => void (receiver = webhookReceiver()));
afterEach(() => receiver.restore());

async function pendingEvaluation(name: string) {
  const agent = await api("POST", "/api/v1/agents", { body: codeSpec(name) });
  await api("POST", "/api/v1/suites", { body: { name, agent: name, cases: [{ id: "c1", input: { a: 1 }, checks: [{ type: "equals", path: "a", value: 1 }] }] } });
  const db = registryDb(env.DB);
  const suite = suiteOf(await suiteForAgent(db, agent.json.id, name));
  return createPendingEvaluation(db, { agentId: agent.json.id, version: "1.0.0", suite, source: "api", actor: "test" });
}

describe("tdev-evolution-dlq", () => {
  it("marks a dead-lettered evaluation failed, announces it on topic system, and acknowledges every message", async () => {
    await createSubscription(env, "system", { type: "webhook", url: "https://hooks.test/evolution-dlq", eventTypes: [DEAD_LETTER_EVENT] }, "test");
    const pending = await pendingEvaluation("dlq-eval");
    expect((await api("GET", `/api/v1/evaluations/${pending.id}`)).json.status).toBe("running");

    const batch = createMessageBatch(EVOLUTION_DEAD_LETTER_QUEUE, [
      { id: "evo-dead-1", timestamp: new Date(), attempts: 11, body: { type: "evaluation", v: 1, evaluationId: pending.id } },
      { id: "evo-dead-2", timestamp: new Date(), attempts: 11, body: { something: "else" } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(["evo-dead-1", "evo-dead-2"]);

    const evaluation = (await api("GET", `/api/v1/evaluations/${pending.id}`)).json;
    expect(evaluation).toMatchObject({ status: "failed" });
    expect(evaluation.error).toContain("gave up after 11 attempts");

    const alerts = await waitFor(
      () => {
        const events = receiver.to("/evolution-dlq").map((h) => JSON.parse(h.body).event.data as { id: string; queue: string; target: string | null; reason: string });
        return events.length >= 2 && events;
      },
      20_000,
      "both dead-letter alerts",
    );
    expect(alerts.map((a) => a.id).sort()).toEqual(["qm_evo-dead-1", "qm_evo-dead-2"]);
    expect(alerts.find((a) => a.id === "qm_evo-dead-1")).toMatchObject({ queue: EVOLUTION_DEAD_LETTER_QUEUE, reason: "max_retries", target: `evaluation:${pending.id}` });

    // Redelivered, it changes nothing: the evaluation stays failed with the first reason.
    const again = createMessageBatch(EVOLUTION_DEAD_LETTER_QUEUE, [
      { id: "evo-dead-1", timestamp: new Date(), attempts: 12, body: { type: "evaluation", v: 1, evaluationId: pending.id } },
    ]);
    await worker.queue(again, env, createExecutionContext());
    expect((await api("GET", `/api/v1/evaluations/${pending.id}`)).json.error).toContain("gave up after 11 attempts");
  });
});
