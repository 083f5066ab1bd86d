// Issue 13 figures: latency under light load. At 4 connections, p99 of GET /api/v1/agents/{id} and of a
// warm POST /api/v1/execute beside the bare-worker floor's p99 in the same run (target: within 2x).
import { authHeaders, load, printRows } from "./lib.mjs";

const CONNECTIONS = 4;

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

  const floorStats = await load({ url: floor.url, connections: CONNECTIONS });
  const get = await load({ url: `${system.url}/api/v1/agents/${id}`, headers: authHeaders, connections: CONNECTIONS });
  const execute = await load({ url: `${system.url}/api/v1/execute`, method: "POST", headers: authHeaders, body, connections: CONNECTIONS });
  printRows(
    `Latency under light load (autocannon, ${CONNECTIONS} connections, 8 s each)`,
    [
      ["floor: bare worker, constant response", floorStats],
      ["GET /api/v1/agents/{id}", get],
      ["warm POST /api/v1/execute", execute],
    ],
    floorStats,
  );
  for (const [name, r] of [
    ["GET /agents/{id}", get],
    ["warm POST /execute", execute],
  ]) {
    const ratio = r.p99 / Math.max(1, floorStats.p99);
    console.log(`${name}: p99 ${r.p99} ms = ${ratio.toFixed(1)}x the floor's ${floorStats.p99} ms -> ${ratio <= 2 ? "within 2x" : "NOT within 2x"}`);
  }
}
