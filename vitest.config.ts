import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import path from "node:path";
import { defineConfig } from "vitest/config";
import { createServer } from "node:net";
import { TEST_AWS } from "./test/fixtures/bedrock-server";

/** A free loopback port for the Bedrock fixture, chosen here so the worker's bindings can name it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const TEST_ADMIN_KEY = "test-admin-key";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  // test/global/bedrock.ts starts the local Bedrock fixture on this port.
  process.env.BEDROCK_FIXTURE_PORT ??= String(await freePort());
  const bedrockUrl = `http://127.0.0.1:${process.env.BEDROCK_FIXTURE_PORT}`;
  // test/global/aws.ts starts the local AWS stand-in (one port per service) on these ports.
  for (const name of ["AWS_FIXTURE_BEDROCK_PORT", "AWS_FIXTURE_AGENTCORE_PORT", "AWS_FIXTURE_S3_PORT"]) process.env[name] ??= String(await freePort());
  const awsUrl = (name: string) => `http://127.0.0.1:${process.env[name]}`;
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
            // Runs of a bare agent name stay on live in tests; canary routing is tested directly (runtime-resolve).
            CANARY_TRAFFIC_PERCENT: "0",
            RATE_LIMIT_CAPACITY: "1000000",
            RATE_LIMIT_PER_MINUTE: "1",
            // Messaging: a fixed test-only key ring (never a production key) and immediate retries,
            // so a poison message exhausts its retries through the real local queue in well under a second.
            MESSAGE_KEYS: JSON.stringify([{ kid: "test-1", key: "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=" }]),
            MESSAGE_RETRY_BASE_SECONDS: "0",
            // Bedrock: test-only credentials the local fixture checks signatures against; fast retries and a short breaker cooldown.
            AWS_REGION: TEST_AWS.region,
            AWS_ACCESS_KEY_ID: TEST_AWS.accessKeyId,
            AWS_SECRET_ACCESS_KEY: TEST_AWS.secretAccessKey,
            BEDROCK_RUNTIME_ENDPOINT: bedrockUrl,
            BEDROCK_AGENT_RUNTIME_ENDPOINT: bedrockUrl,
            BEDROCK_RETRY_BASE_MS: "2",
            BEDROCK_RETRY_MAX_MS: "20",
            BEDROCK_BREAKER_COOLDOWN_MS: "300",
            // AWS deployments: the local stand-in's endpoints, test-only roles and bucket, millisecond polls and backoffs.
            BEDROCK_AGENT_ENDPOINT: awsUrl("AWS_FIXTURE_BEDROCK_PORT"),
            AGENTCORE_CONTROL_ENDPOINT: awsUrl("AWS_FIXTURE_AGENTCORE_PORT"),
            S3_ENDPOINT: awsUrl("AWS_FIXTURE_S3_PORT"),
            BEDROCK_AGENT_ROLE_ARN: "arn:aws:iam::123456789012:role/tdev-test-bedrock-agent",
            AGENTCORE_ROLE_ARN: "arn:aws:iam::123456789012:role/tdev-test-agentcore",
            AGENTCORE_CODE_BUCKET: "tdev-test-code",
            AWS_DEPLOY_POLL_BASE_MS: "5",
            AWS_DEPLOY_POLL_MAX_MS: "20",
            AWS_DEPLOY_RETRY_BASE_MS: "5",
            AWS_DEPLOY_RETRY_MAX_MS: "20",
          },
        },
      }),
    ],
    test: {
      setupFiles: ["./test/setup.ts"],
      globalSetup: ["./test/global/openapi-validator.ts", "./test/global/bedrock.ts", "./test/global/aws.ts", "./test/global/fuzz.ts"],
      include: ["test/**/*.test.ts"],
      testTimeout: 30_000,
      // Vitest's default is one fewer than the cores: one file at a time on a 2-core machine. Most of a file's
      // time is its runtime starting (seconds, largely waiting), so two at a time overlap that wait.
      maxWorkers: 2,
    },
  };
});
