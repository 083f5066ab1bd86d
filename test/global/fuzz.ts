// Runs in Node (vitest globalSetup): hands the fuzzer its budget (FUZZ_RUNS, FUZZ_SEED, FUZZ_PATH from
// the environment; `npm run fuzz` raises the runs) and keeps what it finds: the fuzzer, in workerd,
// POSTs each failure here and it is written to test/fuzz/failures/<seed>.json for replay.
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { TestProject } from "vitest/node";

/** The seed of the bounded run inside `npm test`. */
const BOUNDED_SEED = 20261201;

export default async function setup(project: TestProject) {
  const dir = path.join(import.meta.dirname, "..", "fuzz", "failures");
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const failure = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { seed: number };
      mkdirSync(dir, { recursive: true });
      const file = path.join(dir, `${failure.seed}.json`);
      writeFileSync(file, `${JSON.stringify(failure, null, 2)}\n`);
      res.end(file);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  // npm test replays one fixed seed (a CI run must not depend on luck); `npm run fuzz` sets FUZZ_RUNS and explores new seeds.
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : process.env.FUZZ_RUNS ? undefined : BOUNDED_SEED;
  project.provide("fuzz", {
    runs: Number(process.env.FUZZ_RUNS ?? 60),
    ...(seed !== undefined && Number.isInteger(seed) ? { seed } : {}),
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
    failuresUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  });
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
