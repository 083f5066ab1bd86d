// Issue 2 and 13 figures: authenticated GET /api/v1/agents/{id} and POST /api/v1/agents, each measured in turns
// with the bare-worker floor (lib.mjs againstFloor), and where a request's CPU goes across the processes.
import { againstFloor, authHeaders, loadWithCpu, printCpu, printRows } from "./lib.mjs";

const CODE = "export default { async run(i) { return i; } };";

export default async function apiBench({ system, floor }) {
  const created = await fetch(`${system.url}/api/v1/agents`, {
    method: "POST",
    headers: authHeaders,
    body: JSON.stringify({ name: "bench-get-target", version: "1.0.0", kind: "code", code: CODE }),
  });
  const { id } = await created.json();
  const getOpts = { url: `${system.url}/api/v1/agents/${id}`, headers: authHeaders };
  let n = 0;
  const postOpts = {
    url: `${system.url}/api/v1/agents`,
    method: "POST",
    headers: authHeaders,
    requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ name: `bench-${process.pid}-${n++}`, version: "1.0.0", kind: "code", code: CODE }) }) }],
  };
  const get = await againstFloor({ url: floor.url }, getOpts);
  const post = await againstFloor({ url: floor.url }, postOpts);
  printRows(
    "API (autocannon, 10 connections; 3 rounds of 5 s in turns with the floor, medians)",
    [
      ["floor: bare worker, constant response", get.floor],
      ["GET /api/v1/agents/{id} (authenticated, rate-limited)", { ...get.result, ratio: get.ratio }],
      ["POST /api/v1/agents (new agent each request)", { ...post.result, ratio: post.ratio }],
    ],
    get.floor,
  );
  console.log(
    `\nGoal: GET by id >= 50% of floor req/s with p99 < 10 ms -> ${(get.ratio * 100).toFixed(0)}% and p99 ${get.result.p99} ms: ${get.ratio >= 0.5 && get.result.p99 < 10 ? "met" : "NOT met"}`,
  );
  console.log(`Goal (issue 13): POST /agents >= 25% of the floor -> ${(post.ratio * 100).toFixed(0)}%: ${post.ratio >= 0.25 ? "met" : "NOT met"}`);

  const workers = [system, floor];
  printCpu("Where a request's CPU goes (ms of CPU per request, by process; 5 s each)", [
    ["floor", await loadWithCpu({ url: floor.url, duration: 5 }, workers)],
    ["GET /agents/{id}", await loadWithCpu({ ...getOpts, duration: 5 }, workers)],
    ["POST /agents", await loadWithCpu({ ...postOpts, duration: 5 }, workers)],
  ]);
}
