import { describe, expect, it } from "vitest";
import { specChanges } from "../src/evolution/candidate-diff";
import type { AgentSpec } from "../src/registry/spec";
import { finishedRun, registerExample } from "./evolution-helpers";
import { api } from "./helpers";

const spec = (extra: Partial<Record<string, unknown>> = {}) =>
  ({
    name: "a",
    version: "1.0.0",
    kind: "llm",
    description: "",
    capabilities: [],
    dependencies: [],
    permissions: { network: [], models: [], maxTokensPerRun: 4096 },
    params: { t: 0.5, k: 3 },
    prompt: "Say {{input}}",
    model: "m",
    ...extra,
  }) as AgentSpec;

describe("a child against its parent", () => {
  it("lists changed genes one by one and other fields whole; name and version are not changes", () => {
    expect(specChanges(spec(), spec({ name: "a-child", version: "1.0.1" }))).toEqual([]);
    expect(specChanges(spec(), spec({ params: { t: 0.75, k: 3, extra: true } }))).toEqual([
      { field: "params.extra", parent: null, child: true },
      { field: "params.t", parent: 0.5, child: 0.75 },
    ]);
    expect(specChanges(spec(), spec({ prompt: "Answer {{input}}", params: { k: 3, t: 0.5 } }))).toEqual([{ field: "prompt", parent: "Say {{input}}", child: "Answer {{input}}" }]);
  });

  it("GET /evolution/runs/{id}/candidates/{cid} shows an evolved child's changed genes; a seed has no parent", { timeout: 120_000 }, async () => {
    await registerExample("diff-evo", { population: 3, generationsPerRun: 1, seed: 5 });
    const started = await api("POST", "/api/v1/evolution/runs", { body: { agent: "diff-evo" } });
    const run = await finishedRun(started.json.runId);
    expect(run.status).toBe("completed");
    const seed = run.candidates.find((c: { operator: string }) => c.operator === "seed");
    const child = run.candidates.find((c: { parents: string[] }) => c.parents.length > 0);
    const seedDiff = (await api("GET", `/api/v1/evolution/runs/${run.id}/candidates/${seed.id}`)).json;
    expect(seedDiff).toMatchObject({ id: seed.id, operator: "seed", parent: null, changes: [], sourceVersion: "1.0.0" });
    const diff = await api("GET", `/api/v1/evolution/runs/${run.id}/candidates/${child.id}`);
    expect(diff.status, diff.text).toBe(200);
    expect(diff.json.parent.id).toBe(child.parents[0]);
    expect(diff.json.changes.length).toBeGreaterThan(0);
    // Parameter search changes genes only, and each reported change is real.
    for (const change of diff.json.changes) {
      expect(change.field).toMatch(/^params\./);
      const gene = change.field.slice("params.".length);
      expect(change).toEqual({ field: change.field, parent: diff.json.parent.spec.params[gene] ?? null, child: diff.json.spec.params[gene] ?? null });
    }
    expect((await api("GET", `/api/v1/evolution/runs/${run.id}/candidates/nope`)).status).toBe(404);
    expect((await api("GET", `/api/v1/evolution/runs/evr_other/candidates/${child.id}`)).status).toBe(404);
  });
});
