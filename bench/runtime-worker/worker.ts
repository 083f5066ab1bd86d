import { isolateId, workerCode } from "../../src/runtime/code-agent";
import { agentSpecSchema, sizeSpec } from "../../src/registry/spec";
import type { SandboxReply, SandboxRequest } from "../../src/runtime/sandbox-modules";

interface BenchEnv {
  LOADER: WorkerLoader;
}

interface SandboxStub {
  run(request: SandboxRequest, host: unknown): Promise<SandboxReply>;
}

const host = { log() {}, model() {} };

export default {
  async fetch(request: Request, env: BenchEnv): Promise<Response> {
    const url = new URL(request.url);
    const iterations = Number(url.searchParams.get("n") ?? 100_000);
    const calls = Number(url.searchParams.get("calls") ?? 2_000);
    const spec = agentSpecSchema.parse({ name: "bench-trivial", version: "1.0.0", kind: "code", code: "export default { async run(input) { return input; } };" });
    const sized = await sizeSpec(spec);
    const stored = sized.canonical;
    const id = isolateId(sized.contentHash);
    const getCode = () => workerCode(spec);
    // Warm the isolate once: the loop below measures the cached path only.
    const first = await (env.LOADER.get(id, getCode).getEntrypoint("AgentSandbox") as unknown as SandboxStub).run(
      { runId: "warm", input: 1, params: {}, timeoutMs: 5_000, models: false },
      host,
    );
    if (!first.ok) return Response.json({ error: first }, { status: 500 });

    // A warm sandbox call (RPC into the cached isolate and back), sequential. Timed before the handle loops
    // below: after their million handles the same loop measured 170–220 µs a call instead of 40–70 µs,
    // paying for the collection of what those loops left behind.
    let sink = 0;
    const stub = env.LOADER.get(id, getCode).getEntrypoint("AgentSandbox") as unknown as SandboxStub;
    const t2 = performance.now();
    for (let i = 0; i < calls; i++) {
      const r = await stub.run({ runId: `r${i}`, input: i, params: {}, timeoutMs: 5_000, models: false }, host);
      if (r.ok) sink++;
    }
    const callsMs = performance.now() - t2;

    // Stored spec text + content hash -> parsed spec -> cached isolate -> entrypoint handle.
    // Best of five rounds: the machine is shared, and the minimum is the cost without interference.
    const best = (body: () => void) => {
      let min = Infinity;
      for (let round = 0; round < 5; round++) {
        const t = performance.now();
        body();
        min = Math.min(min, performance.now() - t);
      }
      return min;
    };
    const handleMs = best(() => {
      for (let i = 0; i < iterations; i++) {
        const parsed = JSON.parse(stored) as { kind: string };
        const handle = env.LOADER.get(isolateId(sized.contentHash), getCode).getEntrypoint("AgentSandbox");
        if (handle && parsed.kind === "code") sink++;
      }
    });
    // The handle alone, without parsing the spec.
    const handleOnlyMs = best(() => {
      for (let i = 0; i < iterations; i++) if (env.LOADER.get(id, getCode).getEntrypoint("AgentSandbox")) sink++;
    });

    return Response.json({
      specBytes: sized.sizeBytes,
      iterations,
      nsPerHandleFromStoredSpec: (handleMs * 1e6) / iterations,
      nsPerHandleOnly: (handleOnlyMs * 1e6) / iterations,
      calls,
      usPerWarmCall: (callsMs * 1e3) / calls,
      sink,
    });
  },
};
