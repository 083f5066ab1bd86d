import "vitest";

declare module "vitest" {
  /** Values the Node-side global setups hand to tests through provide/inject. */
  export interface ProvidedContext {
    openapiValidatorUrl: string;
    /** The local Bedrock fixture (test/fixtures/bedrock-server.ts); its control endpoints live under /__control. */
    bedrockUrl: string;
    /** The local AWS stand-in (test/fixtures/aws-server.ts): one URL per service; /__control on any. */
    awsUrls: { bedrockAgent: string; agentcoreControl: string; s3: string };
    /** The OpenAPI fuzzer's budget and where it reports failures (test/global/fuzz.ts). */
    fuzz: { runs: number; seed?: number; path?: string; failuresUrl: string };
  }
}
