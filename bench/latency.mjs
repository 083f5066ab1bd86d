// Issue 13 figures: latency under light load. At 4 connections, p99 of GET /api/v1/agents/{id} and of a
// warm POST /api/v1/execute beside the bare-worker floor's p99, each measured in turns with the floor (target: within 2x).
// Twice: closed loop (each connection sends its next request as soon as the last is answered, which keeps this
// 2-core machine's CPUs busy, so the tail is mostly queueing behind other work) and paced at PACED_RATE requests/s
// over the same 4 connections (light load: well under what either worker serves, so the tail is each request's own).
import { againstFloor, authHeaders, printRows } from "./lib.mjs";

const CONNECTIONS = 4;
const PACED_RATE = 100;
const PACED_SECONDS = 8;

export default async function latencyBench({ system, floor }) {
  const created = await fetch(`${system.url}/api/v1/agents`, {
    method: "POST",
    headers: authHeaders,
    body: JSON.stringify({ name: "bench-latency", version: "1.0.0", kind: "code", code: "export default { async run(i) { return i; } };" }),
  });
  if (created.status !== 201 && created.status !== 200) throw new Error(`register failed: ${created.status} ${await created.text()}`);
  const { id } = await created.json();
  const body = JSON.stringify({ agent: "bench-latency", input: { n: 1 } });
  await fetch(`${system.url}/api/v1/execute`, { method: "POST", headers: authHeaders, body }); // build the isolate once

  const getOpts = { url: `${system.url}/api/v1/agents/${id}`, headers: authHeaders, connections: CONNECTIONS };
  const executeOpts = { url: `${system.url}/api/v1/execute`, method: "POST", headers: authHeaders, body, connections: CONNECTIONS };
  for (const [title, extra, timing] of [
    [`closed loop (autocannon, ${CONNECTIONS} connections; 3 rounds of 5 s in turns with the floor, medians)`, {}, undefined],
    [
      `paced at ${PACED_RATE} requests/s over ${CONNECTIONS} connections (3 rounds of ${PACED_SECONDS} s in turns with the floor, medians)`,
      { overallRate: PACED_RATE },
      { duration: PACED_SECONDS },
    ],
  ]) {
    const floorOpts = { url: floor.url, connections: CONNECTIONS, ...extra };
    const get = await againstFloor(floorOpts, { ...getOpts, ...extra }, timing);
    const execute = await againstFloor(floorOpts, { ...executeOpts, ...extra }, timing);
    printRows(`Latency at ${CONNECTIONS} connections, ${title}`, [
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
      console.log(`${name}: p99 ${r.result.p99} ms = ${ratio.toFixed(1)}x the floor's ${r.floor.p99} ms -> ${ratio <= 2 ? "within 2x" : "NOT within 2x"}`);
    }
  }
}
