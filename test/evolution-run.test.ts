import { describe, expect, it } from "vitest";
import { api } from "./helpers";
import { finishedRun, registerExample, suiteJson } from "./evolution-helpers";

const POLICY = { population: 6, generationsPerRun: 3, seed: 42 };

async function runOnce(agent: string) {
  const started = await api("POST", "/api/v1/evolution/runs", { body: { agent } });
  expect(started.status).toBe(202);
  expect(started.headers.get("location")).toBe(`/api/v1/evolution/runs/${started.json.runId}`);
  return finishedRun(started.json.runId);
}

describe("evolution runs on the example classifier (real sandbox, real Workflows)", { timeout: 240_000 }, () => {
  const runs: any[] = [];

  it("climbs from the poor start to a clearly better score within a few runs, every promotion through the gate", async () => {
    await registerExample("sentiment", POLICY);
    for (let i = 0; i < 3; i++) runs.push(await runOnce("sentiment"));
    for (const run of runs) expect(run.status).toBe("completed");

    const start = runs[0].candidates.find((c: any) => c.operator === "seed" && c.sourceVersion === "1.0.0");
    expect(start.trainScore).toBeLessThanOrEqual(0.55);
    const bests = runs.flatMap((r) => r.generationStats.map((g: any) => g.best));
    expect(bests.length).toBe(9);
    // Within a run the best never falls (elitism); across runs the best genomes are seeds again.
    for (const r of runs) for (let g = 1; g < r.generationStats.length; g++) expect(r.generationStats[g].best).toBeGreaterThanOrEqual(r.generationStats[g - 1].best);
    expect(Math.max(...bests)).toBeGreaterThanOrEqual(start.trainScore + 0.25);

    // Every promotion passed every rule of the gate, and is a real version with lineage and a score.
    const promoted = runs.filter((r) => r.outcome.decision === "pass");
    expect(promoted.length).toBeGreaterThanOrEqual(1);
    for (const r of promoted) {
      const champion = r.candidates.find((c: any) => c.id === r.outcome.champion);
      expect(champion.gate.decision).toBe("pass");
      expect(champion.gate.checks.every((c: any) => c.ok)).toBe(true);
      expect(champion.version).toBe(r.outcome.promoted);
      const version = await api("GET", `/api/v1/agents/sentiment/versions/${champion.version}`);
      expect(version.json.parents.length).toBeGreaterThanOrEqual(1);
      expect(version.json.operator).toBe(champion.operator);
      expect(version.json.score).toBeCloseTo(champion.score, 10);
    }
    const agent = await api("GET", "/api/v1/agents/sentiment");
    expect(agent.json.channels.canary).toBe(promoted.at(-1).outcome.promoted);
    expect(agent.json.channels.live).toBe("1.0.0");
    const deployments = await api("GET", "/api/v1/agents/sentiment/deployments");
    expect(deployments.json.items.filter((d: any) => d.channel === "canary").length).toBe(promoted.length);

    const scores = await api("GET", "/api/v1/agents/sentiment/scores");
    expect(scores.status).toBe(200);
    const versions = new Set(scores.json.items.map((s: any) => s.version));
    for (const r of promoted) expect(versions.has(r.outcome.promoted)).toBe(true);
    expect(versions.has("1.0.0")).toBe(true);

    const stats = await api("GET", "/api/v1/evolution/stats?agent=sentiment");
    expect(stats.json.promotions.total).toBe(promoted.length);
    expect(stats.json.autonomyRatio).toBe(1);
    expect(stats.json.runs.completed).toBe(3);
  });

  it("records why each candidate was kept or dropped, and spends the budget it reports", async () => {
    const run = runs[0];
    expect(run.generationStats.map((g: any) => g.generation)).toEqual([0, 1, 2]);
    // Each generation fully evaluates at most the population; with screening it plans twice as many children and keeps the best.
    for (const r of runs)
      for (let g = 0; g < POLICY.generationsPerRun; g++) {
        const fresh = r.candidates.filter((c: any) => c.generation === g && c.status === "evaluated" && !c.reusedFrom).length;
        expect(fresh).toBeLessThanOrEqual(POLICY.population);
        expect(r.candidates.filter((c: any) => c.generation === g).length).toBeGreaterThan(POLICY.population);
      }
    for (const g of run.generationStats) {
      expect(g.best).toBeGreaterThanOrEqual(g.median);
      expect(g.median).toBeGreaterThanOrEqual(g.worst);
    }
    for (const c of run.candidates) {
      expect(c.reason, `${c.id} has a reason`).toBeTruthy();
      if (c.status === "evaluated") expect(typeof c.kept).toBe("boolean");
    }
    expect(run.candidates.some((c: any) => c.kept === true && /champion|per-case Pareto pool/.test(c.reason))).toBe(true);
    expect(run.candidates.some((c: any) => c.kept === false)).toBe(true);
    // Every case run is accounted for: full evaluations run every case, screened-out children only their minibatch.
    for (const c of run.candidates) if (c.status === "evaluated" && !c.reusedFrom) expect(c.caseRuns).toBe(suiteJson.cases.length);
    expect(run.budget.evaluationsUsed).toBe(run.candidates.reduce((n: number, c: any) => n + c.caseRuns, 0));
    const screened = run.candidates.filter((c: any) => c.status === "dropped" && /screened out|not fully evaluated/.test(c.reason));
    expect(run.screening.screenedOut).toBe(screened.length);
    expect(run.screening.evaluationsSaved).toBe(screened.reduce((n: number, c: any) => n + suiteJson.cases.length - c.caseRuns, 0));
    // Later runs reuse what earlier runs tried (same content hash), so the live seed is not re-run.
    const liveSeed = runs[1].candidates.find((c: any) => c.operator === "seed" && c.sourceVersion === "1.0.0");
    expect(liveSeed.reusedFrom).toBeTruthy();
  });

  it("is reproducible: the same seed on the same data gives the same generations", async () => {
    await registerExample("sentiment-twin", POLICY);
    const twin = await runOnce("sentiment-twin");
    const strip = (r: any) => r.generationStats.map((g: any) => [g.best, g.median, g.worst, g.evaluated]);
    expect(strip(twin)).toEqual(strip(runs[0]));
    expect(twin.candidates.map((c: any) => [c.operator, c.trainScore])).toEqual(runs[0].candidates.map((c: any) => [c.operator, c.trainScore]));
  });

  it("refuses a bad policy or run request, naming the problem, and changes nothing", async () => {
    const badGene = await api("PUT", "/api/v1/agents/sentiment/evolution", { body: { suite: "sentiment-suite", genes: { w_nope: { min: 0, max: 1 } } } });
    expect(badGene.status).toBe(422);
    expect(badGene.json.errors).toEqual([{ path: "genes.w_nope", message: "is not a top-level key of sentiment@1.0.0's params" }]);
    const tooPoor = await api("PUT", "/api/v1/agents/sentiment/evolution", {
      body: { suite: "sentiment-suite", genes: { threshold: { min: 0, max: 1 } }, budget: { maxEvaluations: 10 } },
    });
    expect(tooPoor.status).toBe(422);
    expect(tooPoor.json.type).toBe("/problems/budget-exceeded");
    const range = await api("PUT", "/api/v1/agents/sentiment/evolution", { body: { suite: "sentiment-suite", genes: { threshold: { min: 2, max: 1 } } } });
    expect(range.status).toBe(422);
    expect(range.json.errors[0].path).toBe("genes.threshold.max");
    const policy = await api("GET", "/api/v1/agents/sentiment/evolution");
    expect(policy.json.population).toBe(POLICY.population);

    await api("POST", "/api/v1/agents", { body: { name: "no-policy", version: "1.0.0", kind: "code", code: "export default { async run(i) { return i; } };" } });
    const notEvolvable = await api("POST", "/api/v1/evolution/runs", { body: { agent: "no-policy" } });
    expect(notEvolvable.status).toBe(422);
    expect(notEvolvable.json.type).toBe("/problems/not-evolvable");
    expect((await api("GET", "/api/v1/evolution/runs/evr_missing")).status).toBe(404);
    expect((await api("POST", "/api/v1/evolution/runs", { body: { agent: "sentiment" }, token: null })).status).toBe(401);
  });
});
