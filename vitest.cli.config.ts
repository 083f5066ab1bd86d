import { defineConfig } from "vitest/config";

// tdev's tests run in Node (not workerd): unit tests of its pure parts, and cli/test/system.test.ts, which
// starts the real local system with `wrangler dev` and drives tdev as a subprocess.
export default defineConfig({
  test: {
    environment: "node",
    include: ["cli/test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
