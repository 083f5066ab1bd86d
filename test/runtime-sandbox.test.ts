import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { agentSpecSchema } from "../src/registry/spec";
import { runSpec } from "../src/runtime/execute";

const spec = (name: string, code: string, extra: Record<string, unknown> = {}) =>
  agentSpecSchema.parse({ name, version: "1.0.0", kind: "code", code, ...extra });

const run = (name: string, code: string, input: unknown = {}, extra: Record<string, unknown> = {}, timeoutMs?: number) =>
  runSpec(env, spec(name, code, extra), input, { actor: "test", source: "test", timeoutMs });

describe("code agents in Dynamic Worker sandboxes", () => {
  it("runs a module's run(input, ctx) and returns its JSON output", async () => {
    const r = await run("echo", "export default { async run(input, ctx) { return { got: input, p: ctx.params.greeting }; } };", { a: 1 }, { params: { greeting: "hi" } });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe("succeeded");
    expect(r.output).toEqual({ got: { a: 1 }, p: "hi" });
  });

  it("stops a CPU-bound infinite loop at the timeout, and the system keeps serving", async () => {
    const r = await run("spinner", "export default { async run() { while (true) {} } };", {}, {}, 200);
    expect(r.status).toBe("failed");
    expect(r.error?.code).toBe("agent_timeout");
    expect(r.limitViolation).toBe(true);
    const after = await run("after-spin", "export default { async run() { return 'alive'; } };");
    expect(after.output).toBe("alive");
  });
});
