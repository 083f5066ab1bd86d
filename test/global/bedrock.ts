// Runs in Node (vitest globalSetup): the local Bedrock-compatible fixture. vitest.config.ts picks
// the port (BEDROCK_FIXTURE_PORT) so it can hand the endpoints to the worker as bindings.
import type { TestProject } from "vitest/node";
import { startBedrockFixture } from "../fixtures/bedrock-server";

export default async function setup(project: TestProject) {
  const fixture = await startBedrockFixture(Number(process.env.BEDROCK_FIXTURE_PORT ?? 0));
  project.provide("bedrockUrl", fixture.url);
  return () => fixture.close();
}
