// Issue 13 figures: latency under light load. At 4 connections, p99 of GET /api/v1/agents/{id} and of a
// warm POST /api/v1/execute beside the bare-worker floor's p99, each measured in turns with the floor (target: within 2x):
// back to back (autocannon, which saturates this machine's two cores) and paced at a light, steady rate.
// Twice: on a system of its own, started for this area, and on the system the earlier areas used. The local
// runtime's processes carry what those areas did (thousands of registrations double the tail until a restart on
// the same D1 brings it back; our isolate's heap does not grow), so both are shown.
import { Client } from "undici";
import { againstFloor, authHeaders, median, printRows, startSystem } from "./lib.mjs";

const OWN_SYSTEM_PORT = 8794;

const CONNECTIONS = 4;

/** Light load: this many requests a second in all, spread evenly over the connections (a fifth to a third of what the system serves). */
const PACED_RATE = 200;

/**
 * Latency at a steady light rate: each connection sends a request every CONNECTIONS / rate seconds on a fixed
 * schedule (at once when the previous answer came late). A request's latency counts from when it was sent: counted
 * from its scheduled time, the bench process's own timer lateness (tens of milliseconds at times) swamped the
 * floor's p99. autocannon's 4 connections send back to back instead, which keeps two cores saturated; its
 * `overallRate` releases requests in bursts.
 */
async function paced({ url, method = "GET", headers = {}, body }, seconds = 5) {
  const { origin, pathname, search } = new URL(url);
  const interval = (CONNECTIONS * 1000) / PACED_RATE;
  const latencies = [];
  // A refused connection throws and ends the bench; answers outside 2xx are counted.
  let non2xx = 0;
  const start = performance.now() + 20;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, c) => {
      const client = new Client(origin, { pipelining: 1 });
      try {
        for (let k = 0; ; k++) {
          const due = start + (c * interval) / CONNECTIONS + k * interval;
          if (due - start > seconds * 1000) break;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          const sent = performance.now();
          const res = await client.request({ path: pathname + search, method, headers, body });
          await res.body.text();
          if (res.statusCode < 200 || res.statusCode >= 300) non2xx++;
          latencies.push(performance.now() - sent);
        }
      } finally {
        await client.close();
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))]);
  return { rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), errors: 0, non2xx };
}

/** The paced case and the floor in turns, as againstFloor does for autocannon; the p99s are medians of the rounds. */
async function pacedAgainstFloor(floorOpts, caseOpts, rounds = 3) {
  const floors = [];
  const cases = [];
  for (let i = 0; i < rounds; i++) {
    floors.push(await paced(floorOpts));
    cases.push(await paced(caseOpts));
  }
  const pick = (runs) => ({
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: 0,
    non2xx: runs.reduce((total, r) => total + r.non2xx, 0),
  });
  return { floor: pick(floors), result: pick(cases), rounds: cases.map((r, i) => r.p99 / Math.max(1, floors[i].p99)) };
}

async function measure(system, floor, which) {
  const created = await fetch(`${system.url}/api/v1/agents`, {
    method: "POST",
    headers: authHeaders,
    body: JSON.stringify({ name: "bench-latency", version: "1.0.0", kind: "code", code: "export default { async run(i) { return i; } };" }),
  });
  if (created.status !== 201 && created.status !== 200) throw new Error(`register failed: ${created.status} ${await created.text()}`);
  const { id } = await created.json();
  const body = JSON.stringify({ agent: "bench-latency", input: { n: 1 } });
  await fetch(`${system.url}/api/v1/execute`, { method: "POST", headers: authHeaders, body }); // build the isolate once

  const floorOpts = { url: floor.url, connections: CONNECTIONS };
  const get = await againstFloor(floorOpts, { url: `${system.url}/api/v1/agents/${id}`, headers: authHeaders, connections: CONNECTIONS });
  const execute = await againstFloor(floorOpts, { url: `${system.url}/api/v1/execute`, method: "POST", headers: authHeaders, body, connections: CONNECTIONS });
  printRows(`Latency under light load, ${which} (autocannon, ${CONNECTIONS} connections; 3 rounds of 5 s in turns with the floor, medians)`, [
    ["floor: bare worker, constant response (beside GET)", get.floor],
    ["GET /api/v1/agents/{id}", { ...get.result, ratio: get.ratio }],
    ["floor: bare worker, constant response (beside POST /execute)", execute.floor],
    ["warm POST /api/v1/execute", { ...execute.result, ratio: execute.ratio }],
  ]);
  for (const [name, r] of [
    ["GET /agents/{id}", get],
    ["warm POST /execute", execute],
  ]) {
    const ratio = r.result.p99 / Math.max(1, r.floor.p99);
    console.log(`${which}, ${name}, back to back: p99 ${r.result.p99} ms = ${ratio.toFixed(1)}x the floor's ${r.floor.p99} ms -> ${ratio <= 2 ? "within 2x" : "NOT within 2x"}`);
  }

  const headers = authHeaders;
  const lightGet = await pacedAgainstFloor({ url: floor.url }, { url: `${system.url}/api/v1/agents/${id}`, headers });
  const lightExecute = await pacedAgainstFloor({ url: floor.url }, { url: `${system.url}/api/v1/execute`, method: "POST", headers, body });
  printRows(
    `Latency under light load, ${which} (${PACED_RATE} requests/s over ${CONNECTIONS} connections, paced; latency from each request's send; 3 rounds in turns with the floor, medians)`,
    [
      ["floor: bare worker, constant response (beside GET)", lightGet.floor],
      ["GET /api/v1/agents/{id}", lightGet.result],
      ["floor: bare worker, constant response (beside POST /execute)", lightExecute.floor],
      ["warm POST /api/v1/execute", lightExecute.result],
    ],
  );
  for (const [name, r] of [
    ["GET /agents/{id}", lightGet],
    ["warm POST /execute", lightExecute],
  ]) {
    const ratio = r.result.p99 / Math.max(1, r.floor.p99);
    const each = r.rounds.map((x) => `${x.toFixed(1)}x`).join(", ");
    console.log(
      `${which}, ${name}, light load: p99 ${r.result.p99} ms = ${ratio.toFixed(1)}x the floor's ${r.floor.p99} ms (rounds ${each}) -> ${ratio <= 2 ? "within 2x" : "NOT within 2x"}`,
    );
  }
}

export default async function latencyBench({ system, floor }) {
  const own = await startSystem(OWN_SYSTEM_PORT);
  try {
    await measure(own, floor, "system of its own");
  } finally {
    own.stop();
  }
  await measure(system, floor, "system shared with the earlier areas");
}
