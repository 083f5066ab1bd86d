// Issue 13 figures: latency under light load. At 4 connections, p99 of GET /api/v1/agents/{id} and of a
// warm POST /api/v1/execute beside the bare-worker floor's p99, each measured in turns with the floor (target: within 2x).
// Light load is a steady, paced rate well under capacity, measured on a system and a floor of their own, started for
// this area and paced before anything saturates them. Back to back (autocannon's 4 connections, which saturate this
// machine's two cores) comes after, and then both again on the system and floor the earlier areas used: after a
// saturating phase, each local workerd process's young generation has grown, and its next scavenges destroy the C++
// side of thousands of dead Request, Response and Headers objects in one pause (20-60 ms, the floor's as well as
// ours; `perf record` in the README), so those rows show the aftermath of saturation, not light load.
import { Client } from "undici";
import { againstFloor, authHeaders, median, printRows, startFloor, startSystem } from "./lib.mjs";

const OWN_SYSTEM_PORT = 8794;
const OWN_FLOOR_PORT = 8797;

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
  // A short paced round of each first, not counted: both start the measured rounds from the same steady rate.
  await paced(floorOpts, 2);
  await paced(caseOpts, 2);
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

/** Registers the agent both cases use and builds its isolate; returns the two cases' request options. */
async function prepare(system) {
  const created = await fetch(`${system.url}/api/v1/agents`, {
    method: "POST",
    headers: authHeaders,
    body: JSON.stringify({ name: "bench-latency", version: "1.0.0", kind: "code", code: "export default { async run(i) { return i; } };" }),
  });
  if (created.status !== 201 && created.status !== 200) throw new Error(`register failed: ${created.status} ${await created.text()}`);
  const { id } = await created.json();
  const body = JSON.stringify({ agent: "bench-latency", input: { n: 1 } });
  await fetch(`${system.url}/api/v1/execute`, { method: "POST", headers: authHeaders, body }); // build the isolate once
  return {
    get: { url: `${system.url}/api/v1/agents/${id}`, headers: authHeaders },
    execute: { url: `${system.url}/api/v1/execute`, method: "POST", headers: authHeaders, body },
  };
}

/**
 * One table (each case beside the floor measured in turns with it) and a p99 verdict per case. A case carries its
 * requests/s ratio when throughput means something (back to back) and its per-round p99 ratios when paced.
 */
function report(title, which, mode, { get, execute }) {
  const withRatio = (r) => (r.ratio === undefined ? r.result : { ...r.result, ratio: r.ratio });
  printRows(title, [
    ["floor: bare worker, constant response (beside GET)", get.floor],
    ["GET /api/v1/agents/{id}", withRatio(get)],
    ["floor: bare worker, constant response (beside POST /execute)", execute.floor],
    ["warm POST /api/v1/execute", withRatio(execute)],
  ]);
  for (const [name, r] of [
    ["GET /agents/{id}", get],
    ["warm POST /execute", execute],
  ]) {
    const ratio = r.result.p99 / Math.max(1, r.floor.p99);
    const rounds = r.rounds ? ` (rounds ${r.rounds.map((x) => `${x.toFixed(1)}x`).join(", ")})` : "";
    const verdict = ratio <= 2 ? "within 2x" : "NOT within 2x";
    console.log(`${which}, ${name}, ${mode}: p99 ${r.result.p99} ms = ${ratio.toFixed(1)}x the floor's ${r.floor.p99} ms${rounds} -> ${verdict}`);
  }
}

async function backToBack(cases, floor, which) {
  const floorOpts = { url: floor.url, connections: CONNECTIONS };
  const get = await againstFloor(floorOpts, { ...cases.get, connections: CONNECTIONS });
  const execute = await againstFloor(floorOpts, { ...cases.execute, connections: CONNECTIONS });
  const title = `Latency at ${CONNECTIONS} connections back to back, ${which} (autocannon, saturating both cores; 3 rounds of 5 s in turns with the floor, medians)`;
  report(title, which, "back to back", { get, execute });
}

async function lightLoad(cases, floor, which) {
  const get = await pacedAgainstFloor({ url: floor.url }, cases.get);
  const execute = await pacedAgainstFloor({ url: floor.url }, cases.execute);
  const title = `Latency under light load, ${which} (${PACED_RATE} requests/s over ${CONNECTIONS} connections, paced; latency from each request's send; 3 rounds in turns with the floor after one uncounted, medians)`;
  report(title, which, "light load", { get, execute });
}

export default async function latencyBench({ system, floor }) {
  // The light-load target: a system and a floor of their own, the same requests through both, paced before either
  // has been saturated; then the same pair back to back.
  const [own, ownFloor] = await Promise.all([startSystem(OWN_SYSTEM_PORT), startFloor(OWN_FLOOR_PORT)]);
  try {
    const cases = await prepare(own);
    await lightLoad(cases, ownFloor, "system and floor of their own");
    await backToBack(cases, ownFloor, "system and floor of their own");
  } finally {
    own.stop();
    ownFloor.stop();
  }
  // The pair the earlier areas used: back to back, then light load after that saturation.
  const cases = await prepare(system);
  await backToBack(cases, floor, "system and floor shared with the earlier areas");
  await lightLoad(cases, floor, "system and floor shared with the earlier areas, after saturation");
}
