// Issue 3 figures: code-agent runs through POST /api/v1/execute, warm (cached isolate) and cold
// (a new version, so a new isolate, per run), against the bare-worker floor measured in the same
// run; step by step from the bare floor's GET to a warm run (the same POST on the bare floor, the floor behind the
// system's configuration); and, inside workerd, the cost of turning a stored spec into a runnable handle when cached.
import { againstFloor, authHeaders, inTurns, loadWithCpu, median, printCpu, printRows, startConfiguredFloor, startWorker } from "./lib.mjs";

const TRIVIAL = "export default { async run(input) { return input; } };";
const COLD_RUNS = 120;
const COLD_CONCURRENCY = 4;
/** Rounds of the warm run beside the floor alone; with the step table's three, an odd count whose median is a round. */
const WARM_ROUNDS = 4;

const post = (url, body) => fetch(url, { method: "POST", headers: authHeaders, body: JSON.stringify(body) });

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Runs `count` requests, `concurrency` at a time, and summarises them like autocannon does. */
async function timed(count, concurrency, makeRequest) {
  const latencies = [];
  let next = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        const res = await makeRequest(i);
        await res.text();
        if (res.status !== 200) failures++;
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { rps: count / seconds, p50: Math.round(percentile(latencies, 50)), p99: Math.round(percentile(latencies, 99)), errors: 0, non2xx: failures };
}

export default async function runtimeBench({ system, floor }) {
  const created = await post(`${system.url}/api/v1/agents`, { name: "bench-trivial", version: "1.0.0", kind: "code", code: TRIVIAL });
  if (created.status !== 201 && created.status !== 200) throw new Error(`register failed: ${created.status} ${await created.text()}`);
  const { id } = await created.json();

  const warmBody = JSON.stringify({ agent: "bench-trivial", input: { n: 1 } });
  await post(`${system.url}/api/v1/execute`, { agent: "bench-trivial", input: { n: 0 } }); // build the isolate once
  // The warm run's request, sent as it is to the floors too (the step-by-step table below).
  const warmRequest = { method: "POST", headers: authHeaders, body: warmBody };
  const warmOpts = { url: `${system.url}/api/v1/execute`, ...warmRequest };
  const paired = await againstFloor({ url: floor.url }, warmOpts, { rounds: WARM_ROUNDS });

  // Cold: publish COLD_RUNS versions (same code, new content hash each), then run each exactly once.
  for (let i = 1; i <= COLD_RUNS; i++) {
    const res = await fetch(`${system.url}/api/v1/agents/${id}`, {
      method: "PUT",
      headers: authHeaders,
      body: JSON.stringify({ name: "bench-trivial", version: `2.0.${i}`, kind: "code", code: TRIVIAL }),
    });
    if (res.status !== 201) throw new Error(`publish 2.0.${i} failed: ${res.status} ${await res.text()}`);
  }
  const cold = await timed(COLD_RUNS, COLD_CONCURRENCY, (i) => post(`${system.url}/api/v1/execute`, { agent: `bench-trivial@2.0.${i + 1}`, input: { n: i } }));
  const warmSameShape = await timed(COLD_RUNS, COLD_CONCURRENCY, (i) => post(`${system.url}/api/v1/execute`, { agent: "bench-trivial", input: { n: i } }));

  // The same constant answer behind the system's wrangler.toml: how much of the gap is configuration (locally,
  // [assets] routes every request through wrangler's asset router first), not our code.
  const configured = await startConfiguredFloor();
  const configuredUrl = `${configured.url}/api/floor`;
  // Step by step from the bare floor's GET to a warm run, in turns: what carrying the run's POST costs a bare
  // worker, what the configuration adds, and what is left for our code. The target stays against the bare GET.
  const steps = [
    ["bare floor, the same POST as a warm run (body and headers)", { url: floor.url, ...warmRequest }],
    ["floor with the system's configuration, GET", { url: configuredUrl }],
    ["floor with the system's configuration, the same POST", { url: configuredUrl, ...warmRequest }],
    ["warm POST /execute", warmOpts],
  ];
  let stepped;
  let cpu;
  try {
    stepped = await inTurns(
      { url: floor.url },
      steps.map(([, opts]) => opts),
    );
    const workers = [system, floor, configured];
    cpu = [
      ["floor", await loadWithCpu({ url: floor.url, duration: 5 }, workers)],
      ["floor, system's configuration", await loadWithCpu({ url: configuredUrl, duration: 5 }, workers)],
      ["warm POST /execute", await loadWithCpu({ ...warmOpts, duration: 5 }, workers)],
    ];
  } finally {
    configured.stop();
  }
  const [barePost, configuredGet, configuredPost, warmStep] = stepped.cases;

  // The target's figure: every round in which a warm run was measured beside the bare floor's GET (WARM_ROUNDS
  // paired with it alone, three in the step table), the median of their ratios. One pooled figure instead of two
  // three-round medians that told the same quantity apart by the machine's noise.
  const warmRatios = [...paired.ratios, ...warmStep.ratios];
  const warm = { ...paired.result, ratio: median(warmRatios) };
  const floorStats = paired.floor;
  printRows(
    "Runtime: code agents through POST /api/v1/execute",
    [
      ["floor: bare worker, constant response (autocannon, 10 connections)", floorStats],
      [
        `warm: cached isolate (autocannon, 10 connections; req/s the median of ${WARM_ROUNDS} rounds of 5 s in turns with the floor; the ratio the median of those and the step table's ${warmStep.ratios.length} rounds)`,
        warm,
      ],
      [`cold: new version = new isolate each run (${COLD_RUNS} runs, ${COLD_CONCURRENCY} at a time)`, cold],
      [`warm, same loop as cold (${COLD_RUNS} runs, ${COLD_CONCURRENCY} at a time)`, warmSameShape],
    ],
    floorStats,
  );
  const pct = (ratio) => `${(ratio * 100).toFixed(0)}%`;
  console.log(
    `\nwarm p50 ${warm.p50} ms / floor p50 ${floorStats.p50} ms; warm runs/s ${warm.rps.toFixed(0)} = ${pct(warm.ratio)} of floor (target 50%: ${warm.ratio >= 0.5 ? "met" : "NOT met"}); ` +
      `its ${warmRatios.length} rounds: ${[...warmRatios]
        .sort((a, b) => a - b)
        .map(pct)
        .join(", ")}; cold p50 ${cold.p50} ms, p99 ${cold.p99} ms, ${cold.rps.toFixed(1)} runs/s`,
  );

  printRows(
    "Runtime: from the bare floor to a warm run, in turns (3 rounds of 5 s, medians; ratios to the bare floor's GET)",
    [["floor: bare worker, GET", stepped.floor], ...steps.map(([name], k) => [name, { ...stepped.cases[k].result, ratio: stepped.cases[k].ratio }])],
    stepped.floor,
  );
  console.log(
    `\nthe same POST on the bare floor: ${pct(barePost.ratio)} of its GET; the configured floor: ${pct(configuredGet.ratio)} (GET), ${pct(configuredPost.ratio)} (POST); ` +
      `warm POST /execute: ${pct(warmStep.ratio)}, that is ${pct(warmStep.ratio / configuredGet.ratio)} of the configured GET and ${pct(warmStep.ratio / configuredPost.ratio)} of the configured POST`,
  );
  printCpu("Where a warm run's CPU goes (ms of CPU per request, by process; 5 s each)", cpu);

  // Inside workerd: stored spec -> cached runnable handle, and a warm sandbox call without HTTP.
  const inner = await startWorker({ config: "bench/runtime-worker/wrangler.toml", port: 8796 });
  try {
    const res = await fetch(`${inner.url}/?n=100000&calls=2000`);
    const m = await res.json();
    if (!res.ok) throw new Error(`runtime worker failed: ${JSON.stringify(m)}`);
    console.log("\n## Runtime: inside workerd (bench/runtime-worker)");
    console.log("| measure | value |");
    console.log("|---|---:|");
    console.log(`| spec size (trivial agent, canonical JSON) | ${m.specBytes} B (limit 6,656 B) |`);
    console.log(
      `| stored spec -> cached runnable handle (JSON.parse + LOADER.get + getEntrypoint), best of 5 × ${m.iterations} | ${(m.nsPerHandleFromStoredSpec / 1000).toFixed(2)} µs/op |`,
    );
    console.log(`| cached handle only (LOADER.get + getEntrypoint) | ${(m.nsPerHandleOnly / 1000).toFixed(2)} µs/op |`);
    console.log(`| warm sandbox call (RPC into the cached isolate and back), ${m.calls} sequential | ${m.usPerWarmCall.toFixed(1)} µs/call |`);
    console.log(
      `\nSeed promise: instantiation < 3 µs -> cached handle from stored spec ${(m.nsPerHandleFromStoredSpec / 1000).toFixed(2)} µs: ${m.nsPerHandleFromStoredSpec < 3000 ? "met" : "NOT met"}`,
    );
  } finally {
    inner.stop();
  }
}
