#!/usr/bin/env node
// `npm run demo`: registers the evolvable sentiment classifier (examples/sentiment/) with the
// running local system, runs a few evolution runs and prints the score generation by generation.
// Each run's champion must pass the safety gate to reach canary; canary then serves live traffic
// and goes live only if its success rate is not worse than live's.
//   TDEV_URL      default http://localhost:8787 (`npm start`)
//   TDEV_API_KEY  default local-admin-key (the key `npm start` gives the local admin)
//   DEMO_RUNS     default 3
import { readFile } from "node:fs/promises";
import path from "node:path";

const BASE = (process.env.TDEV_URL ?? "http://localhost:8787").replace(/\/$/, "");
const KEY = process.env.TDEV_API_KEY ?? "local-admin-key";
const RUNS = Number(process.env.DEMO_RUNS ?? 3);
const here = import.meta.dirname;
const load = async (f) => readFile(path.join(here, "sentiment", f), "utf8");

async function call(method, route, body) {
  let res;
  for (let attempt = 1; ; attempt++) {
    try {
      res = await fetch(`${BASE}/api/v1${route}`, {
        method,
        headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      // Reads are safe to repeat; a busy local system can keep one waiting past fetch's timeout.
      if (method !== "GET" || attempt >= 5) throw err;
      continue;
    }
    if (res.status !== 429) break;
    // The local system rate-limits each key; wait as long as it asks.
    await res.text();
    await sleep(1000 * Number(res.headers.get("retry-after") ?? 1));
  }
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  return { status: res.status, json };
}

async function must(method, route, body, ok = [200, 201, 202]) {
  const r = await call(method, route, body);
  if (!ok.includes(r.status)) throw new Error(`${method} ${route} → ${r.status}: ${r.json?.detail ?? JSON.stringify(r.json)}`);
  return r.json;
}

const pct = (x) => (x === null || x === undefined ? "  -  " : `${(x * 100).toFixed(1).padStart(5)}%`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  try {
    await fetch(`${BASE}/api/v1/health`);
  } catch {
    console.error(`Cannot reach ${BASE}. Start the system first with \`npm start\` (or set TDEV_URL).`);
    process.exit(1);
  }
  const spec = { ...JSON.parse(await load("spec.json")), code: await load("agent.js") };
  const suite = JSON.parse(await load("suite.json"));
  const policy = JSON.parse(await load("policy.json"));

  const registered = await call("POST", "/agents", spec);
  if (![200, 201, 409].includes(registered.status)) throw new Error(`register: ${registered.json?.detail}`);
  console.log(`agent   ${spec.name}: ${registered.status === 201 ? "registered 1.0.0 (all keyword weights 0: a poor start)" : "already registered"}`);
  const suiteRes = await call("POST", "/suites", { ...suite, agent: spec.name });
  if (![200, 201, 409].includes(suiteRes.status)) throw new Error(`suite: ${suiteRes.json?.detail}`);
  const suiteInfo = await must("GET", `/suites/${suite.name}`);
  console.log(`suite   ${suite.name}: ${suiteInfo.caseCount} labelled cases, ${suiteInfo.heldOutCases.length} held out for the gate, guards ${suiteInfo.guardCases.join(", ")}`);
  const window = 10;
  await must("PUT", `/agents/${spec.name}/evolution`, { ...policy, suite: suite.name, canary: { window } });
  console.log(`policy  population ${policy.population}, ${policy.generationsPerRun} generations per run, seed ${policy.seed}, minImprovement ${policy.minImprovement}`);

  const agent = await must("GET", `/agents/${spec.name}`);
  const live = await must("POST", `/agents/${spec.name}/versions/${agent.channels.live}/evaluate`, { suite: suite.name });
  console.log(`\nlive ${agent.channels.live} scores ${pct(live.score)} on the suite (train ${pct(live.trainScore)}, held-out ${pct(live.heldOutScore)})\n`);

  for (let n = 1; n <= RUNS; n++) {
    const { runId } = await must("POST", "/evolution/runs", { agent: spec.name });
    console.log(`run ${n} (${runId})            best   median  worst   (training score)`);
    let shown = 0;
    let run;
    let lastProgress = Date.now();
    for (;;) {
      run = await must("GET", `/evolution/runs/${runId}`);
      if (shown < run.generationStats.length) lastProgress = Date.now();
      if (Date.now() - lastProgress > 180_000) {
        console.log(`  no progress for 3 minutes: the run goes on in the background (its Workflow retries and resumes it); see GET /api/v1/evolution/runs/${runId}`);
        break;
      }
      for (; shown < run.generationStats.length; shown++) {
        const g = run.generationStats[shown];
        console.log(`  generation ${String(g.generation).padEnd(3)}          ${pct(g.best)}  ${pct(g.median)}  ${pct(g.worst)}   ${g.evaluated} evaluated`);
      }
      if (run.status === "completed" || run.status === "failed") break;
      await sleep(1000);
    }
    if (run.status !== "completed" && run.status !== "failed") continue;
    if (run.status === "failed") {
      console.log(`  run failed: ${run.error}`);
      continue;
    }
    const champion = run.candidates.find((c) => c.id === run.outcome.champion);
    const byOperator = {};
    for (const c of run.candidates) byOperator[c.operator] = (byOperator[c.operator] ?? 0) + 1;
    console.log(
      `  children ${Object.entries(byOperator)
        .map(([op, n]) => `${op} ${n}`)
        .join(
          ", ",
        )}; screening kept ${run.screening.screenedOut} from a full evaluation (${run.screening.evaluationsSaved} case runs saved); ${run.budget.evaluationsUsed} case runs used`,
    );
    console.log(`  outcome: ${run.outcome.detail}`);
    if (champion?.gate) for (const c of champion.gate.checks) console.log(`    gate ${c.ok ? "✓" : "✗"} ${c.rule.padEnd(12)} ${c.detail}`);
    if (run.outcome.decision === "pass") {
      // Serve the canary some live traffic, then let the canary rule decide.
      const served = [];
      for (const c of suite.cases.slice(0, window)) served.push((await must("POST", "/execute", { agent: `${spec.name}#canary`, input: c.input })).runId);
      // Run records land just behind each answer; the canary rule counts recorded runs.
      for (const id of served) await must("GET", `/runs/${id}`);
      const review = await must("POST", "/evolution/canaries/review");
      const now = await must("GET", `/agents/${spec.name}`);
      console.log(
        `  canary: ${review.promoted.length ? `${run.outcome.promoted} went live` : review.rolledBack.length ? `${run.outcome.promoted} was rolled back` : "waiting for more live runs"} (live is ${now.channels.live})`,
      );
    }
    console.log("");
  }

  const stats = await must("GET", `/evolution/stats?agent=${spec.name}`);
  const scores = await must("GET", `/agents/${spec.name}/scores?limit=10`);
  console.log("score history (newest first):");
  for (const s of scores.items) console.log(`  ${s.version.padEnd(8)} ${pct(s.score)}  held-out ${pct(s.heldOutScore)}  ${s.regression ? "REGRESSION" : ""}`);
  const final = await must("GET", `/agents/${spec.name}`);
  const finalLive = await must("POST", `/agents/${spec.name}/versions/${final.channels.live}/evaluate`, { suite: suite.name });
  console.log(`\nlive is ${final.channels.live}: ${pct(finalLive.score)} on the suite (started at ${pct(live.score)})`);
  console.log(
    `autonomy ratio ${stats.autonomyRatio === null ? "n/a" : pct(stats.autonomyRatio)} · promotions ${stats.promotions.total} · rollbacks ${stats.rollbacks} · gate blocks ${stats.blocks.total} ${JSON.stringify(stats.blocks.byRule)}`,
  );
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
