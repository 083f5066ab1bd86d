// Issue 6 figures: candidate evaluations per second, and the wall time of one generation of
// population 16 on a 50-case suite, through the real path (API → evolution queue → sandboxes → D1).
// Called by bench/run.mjs with the started system; also runnable alone:
//   node bench/evolution.mjs [http://127.0.0.1:8787] [admin key]
import { readFile } from "node:fs/promises";
import path from "node:path";
import { ADMIN_KEY, median, ROOT } from "./lib.mjs";

const REPS = 3;
const load = (f) => readFile(path.join(ROOT, "examples", "sentiment", f), "utf8");

export default async function evolutionBench({ system, key = ADMIN_KEY }) {
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const call = async (method, route, body) => {
    const res = await fetch(`${system.url}/api/v1${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const json = await res.json();
    if (res.status >= 300) throw new Error(`${method} ${route} → ${res.status}: ${json.detail}`);
    return json;
  };
  const spec = JSON.parse(await load("spec.json"));
  const code = await load("agent.js");
  const suite = JSON.parse(await load("suite.json"));
  const policy = JSON.parse(await load("policy.json"));
  const cases = suite.cases.slice(0, 50);

  const evaluations = [];
  const generations = [];
  for (let rep = 0; rep < REPS; rep++) {
    // A fresh agent per repetition, so no result is reused from an earlier one (same content hash).
    const name = `bench-evo-${process.pid}-${rep}`;
    await call("POST", "/agents", { ...spec, name, code });
    await call("POST", "/suites", { name: `${name}-suite`, agent: name, cases });
    await call("PUT", `/agents/${name}/evolution`, { ...policy, suite: `${name}-suite`, population: 16, generationsPerRun: 1, seed: rep + 1 });

    let t = performance.now();
    await call("POST", `/agents/${name}/versions/1.0.0/evaluate`, {});
    evaluations.push(performance.now() - t);

    t = performance.now();
    const { runId } = await call("POST", "/evolution/runs", { agent: name });
    let run;
    do {
      await new Promise((r) => setTimeout(r, 50));
      run = await call("GET", `/evolution/runs/${runId}`);
    } while (run.status !== "completed" && run.status !== "failed");
    const ms = performance.now() - t;
    if (run.status !== "completed") throw new Error(`run ${runId} failed: ${run.error}`);
    const fresh = run.candidates.filter((c) => c.status === "evaluated" && !c.reusedFrom).length;
    generations.push({ ms, fresh, caseRuns: run.budget.evaluationsUsed });
  }

  const gen = generations.slice().sort((a, b) => a.ms - b.ms)[Math.floor(REPS / 2)];
  console.log(`\n## Evolution (population 16, 50-case suite, ${REPS} repetitions, median)`);
  console.log("| measure | value |");
  console.log("|---|---:|");
  console.log(`| one candidate evaluation via POST …/evaluate (50 cases in the sandbox) | ${median(evaluations).toFixed(0)} ms |`);
  console.log(`| one generation of population 16 (queue fan-out, evaluation, selection, gate) | ${gen.ms.toFixed(0)} ms |`);
  console.log(`| candidate evaluations per second (in that generation) | ${((gen.fresh / gen.ms) * 1000).toFixed(1)} |`);
  console.log(`| case runs per second (in that generation) | ${((gen.caseRuns / gen.ms) * 1000).toFixed(0)} |`);
  return { evaluationMs: median(evaluations), generationMs: gen.ms, candidatesPerSecond: (gen.fresh / gen.ms) * 1000 };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await evolutionBench({ system: { url: process.argv[2] ?? "http://127.0.0.1:8787" }, key: process.argv[3] ?? "local-admin-key" });
}
