import "vitest";

declare module "vitest" {
  /** Values the Node-side global setups hand to tests through provide/inject. */
  export interface ProvidedContext {
    openapiValidatorUrl: string;
  }
}
