// Runs in Node (vitest globalSetup): the local AWS stand-in for deployments (test/fixtures/aws-server.ts),
// one port per service. vitest.config.ts picks the ports so it can hand the endpoints to the worker.
import type { TestProject } from "vitest/node";
import { startAwsFixture } from "../fixtures/aws-server";

export default async function setup(project: TestProject) {
  const port = (name: string) => Number(process.env[name] ?? 0);
  const fixture = await startAwsFixture({ bedrock: port("AWS_FIXTURE_BEDROCK_PORT"), agentcore: port("AWS_FIXTURE_AGENTCORE_PORT"), s3: port("AWS_FIXTURE_S3_PORT") });
  project.provide("awsUrls", fixture.urls);
  return () => fixture.close();
}
