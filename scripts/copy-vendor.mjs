// Copies the dashboard's libraries from installed npm packages into public/vendor (never fetched from the internet).
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const vendor = path.join(root, "public", "vendor");
const files = {
  // Preact, its hooks and htm in one ES module, as htm publishes it.
  "preact-htm.js": "htm/preact/standalone.module.js",
  "uPlot.esm.js": "uplot/dist/uPlot.esm.js",
  "uPlot.min.css": "uplot/dist/uPlot.min.css",
};
mkdirSync(vendor, { recursive: true });
for (const [name, from] of Object.entries(files)) copyFileSync(path.join(root, "node_modules", from), path.join(vendor, name));
console.log(`vendor: ${Object.keys(files).join(", ")} -> public/vendor`);
