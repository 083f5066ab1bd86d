// Issue 2 figures: authenticated GET /api/v1/agents/{id} and POST /api/v1/agents against the bare-worker floor.
import { authHeaders, load, printRows } from "./lib.mjs";

export default async function apiBench({ system, floorStats }) {
  const created = await fetch(`${system.url}/api/v1/agents`, {
    method: "POST",
    headers: authHeaders,
    body: JSON.stringify({ name: "bench-get-target", version: "1.0.0", kind: "code", code: "export default { async run(i) { return i; } };" }),
  });
  const { id } = await created.json();
  const get = await load({ url: `${system.url}/api/v1/agents/${id}`, headers: authHeaders });
  let n = 0;
  const post = await load({
    url: `${system.url}/api/v1/agents`,
    method: "POST",
    headers: authHeaders,
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({ name: `bench-${process.pid}-${n++}`, version: "1.0.0", kind: "code", code: "export default { async run(i) { return i; } };" }),
        }),
      },
    ],
  });
  printRows(
    "API (autocannon, 10 connections, 8 s each)",
    [
      ["floor: bare worker, constant response", floorStats],
      ["GET /api/v1/agents/{id} (authenticated, rate-limited)", get],
      ["POST /api/v1/agents (new agent each request)", post],
    ],
    floorStats,
  );
  const ratio = get.rps / floorStats.rps;
  console.log(
    `\nGoal: GET by id >= 50% of floor req/s with p99 < 10 ms -> ${(ratio * 100).toFixed(0)}% and p99 ${get.p99} ms: ${ratio >= 0.5 && get.p99 < 10 ? "met" : "NOT met"}`,
  );
}
