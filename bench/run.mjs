// `npm run bench`: starts the local system and a bare floor worker, then runs each area's benchmark.
// Not part of `npm test`. Figures go in the README.
import { existsSync } from "node:fs";
import path from "node:path";
import { load, ROOT, startFloor, startSystem } from "./lib.mjs";

const AREAS = ["api", "runtime", "latency", "squads", "messaging", "evolution", "evolution-search"];

const only = process.argv.slice(2);
const system = await startSystem();
const floor = await startFloor();
try {
  await load({ url: floor.url, duration: 2 }); // warm-up: each area measures the floor in turns with its own cases
  console.log(`# T-Developer Edge benchmark — ${new Date().toISOString()}, node ${process.version}, ${(await import("node:os")).cpus().length} cores`);
  for (const area of AREAS) {
    if (only.length && !only.includes(area)) continue;
    const file = path.join(ROOT, "bench", `${area}.mjs`);
    if (!existsSync(file)) continue;
    const { default: bench } = await import(file);
    await bench({ system, floor });
  }
} finally {
  system.stop();
  floor.stop();
}
process.exit(0);
