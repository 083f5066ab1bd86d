// Issue 13 figures: latency under light load. At 4 connections, p99 of GET /api/v1/agents/{id} and of a
// warm POST /api/v1/execute beside the bare-worker floor's p99, each measured in turns with the floor (target: within 2x).
// Twice: on a system of its own, started for this area, and on the system the earlier areas used. The local
// runtime's processes carry what those areas did (thousands of registrations double the tail until a restart on
// the same D1 brings it back; our isolate's heap does not grow), so both are shown.
import { againstFloor, authHeaders, printRows, startSystem } from "./lib.mjs";

const OWN_SYSTEM_PORT = 8794;

const CONNECTIONS = 4;

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
    console.log(`${which}, ${name}: p99 ${r.result.p99} ms = ${ratio.toFixed(1)}x the floor's ${r.floor.p99} ms -> ${ratio <= 2 ? "within 2x" : "NOT within 2x"}`);
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
