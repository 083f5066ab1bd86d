import { afterEach, describe, expect, it } from "vitest";
import { api } from "./helpers";
import { finishedRun, registerExample } from "./evolution-helpers";
import { waitFor, webhookReceiver } from "./messaging-helpers";

let receiver: ReturnType<typeof webhookReceiver> | undefined;
afterEach(() => receiver?.restore());

describe("evolution events on the event bus", () => {
  it("lets a subscriber watch a run live: started, each generation, promoted, completed", async () => {
    receiver = webhookReceiver();
    const sub = await api("POST", "/api/v1/topics/evolution/subscriptions", { body: { type: "webhook", url: "https://hooks.test/evolution" } });
    expect(sub.status).toBe(201);
    await registerExample("watched", { population: 6, generationsPerRun: 3 });
    const started = await api("POST", "/api/v1/evolution/runs", { body: { agent: "watched" } });
    const run = await finishedRun(started.json.runId);
    const wanted = ["evolution.run.started", "evolution.generation.completed", "evolution.run.completed"];
    const events = await waitFor(
      () => {
        const got = receiver!.to("/evolution").map((h) => JSON.parse(h.body).event);
        return wanted.every((t) => got.some((e: any) => e.type === t)) && got.filter((e: any) => e.type === "evolution.generation.completed").length === 3 && got;
      },
      20_000,
      "evolution events",
    );
    const generations = events.filter((e: any) => e.type === "evolution.generation.completed").map((e: any) => e.data);
    expect(generations.map((g: any) => g.generation).sort()).toEqual([0, 1, 2]);
    for (const g of generations) expect(g).toMatchObject({ runId: run.id, best: run.generationStats[g.generation].best, median: run.generationStats[g.generation].median });
    expect(events.find((e: any) => e.type === "evolution.run.started").data).toMatchObject({ runId: run.id, baseVersion: "1.0.0", trigger: "manual" });
    expect(run.outcome.decision).toBe("pass"); // the seeded first run of the example promotes (see evolution-run)
    const promoted = await waitFor(
      () =>
        receiver!
          .to("/evolution")
          .map((h) => JSON.parse(h.body).event)
          .find((e: any) => e.type === "evolution.promoted"),
      20_000,
      "promoted event",
    );
    expect(promoted.data).toMatchObject({ agent: "watched", version: run.outcome.promoted, channel: "canary", mode: "auto" });
  });
});
