import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import path from "node:path";
import { defineConfig } from "vitest/config";

export const TEST_ADMIN_KEY = "test-admin-key";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            ADMIN_API_KEY: TEST_ADMIN_KEY,
            JWT_SECRET: "test-jwt-secret-that-is-long-enough-for-hs256",
            // Every test file calls the API with the admin key: a bucket too big to empty by accident, refilling
            // slowly enough that test/rate-limit.test.ts can drain one and see 429 without racing the refill.
            RATE_LIMIT_CAPACITY: "1000000",
            RATE_LIMIT_PER_MINUTE: "1",
          },
        },
      }),
    ],
    test: {
      setupFiles: ["./test/setup.ts"],
      globalSetup: ["./test/global/openapi-validator.ts"],
      include: ["test/**/*.test.ts"],
      testTimeout: 30_000,
    },
  };
});
