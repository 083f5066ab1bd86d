import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_SPEC_BYTES } from "../src/registry/spec";
import { canonicalJson } from "../src/registry/canonical";
import { api, codeSpec } from "./helpers";

async function rowCounts() {
  const counts = await env.DB.batch([
    env.DB.prepare("select count(*) as n from agents"),
    env.DB.prepare("select count(*) as n from agent_versions"),
    env.DB.prepare("select count(*) as n from channels"),
    env.DB.prepare("select count(*) as n from deployments"),
  ]);
  return counts.map((r) => (r.results[0] as { n: number }).n);
}

/** A code spec padded so its canonical JSON is exactly `bytes` long. */
function specOfSize(name: string, bytes: number) {
  const spec = codeSpec(name, "1.0.0", { params: { pad: "" } });
  const normalized = { ...spec, dependencies: [], permissions: { maxTokensPerRun: 4096, models: [], network: [] } };
  const padding = bytes - new TextEncoder().encode(canonicalJson(normalized)).byteLength;
  return { ...spec, params: { pad: "x".repeat(padding) } };
}

describe("POST /api/v1/agents", () => {
  it("creates an agent with its first version, live channel and size/hash", async () => {
    const res = await api("POST", "/api/v1/agents", { body: codeSpec("echo") });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ name: "echo", version: "1.0.0", created: true });
    expect(res.json.id).toMatch(/^agt_/);
    expect(res.json.contentHash).toMatch(/^[0-9a-f]{64}$/);
    const got = await api("GET", `/api/v1/agents/${res.json.id}`);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ name: "echo", channels: { live: "1.0.0" }, latest: { version: "1.0.0", sizeBytes: res.json.sizeBytes } });
    const byName = await api("GET", "/api/v1/agents/echo");
    expect(byName.json.id).toBe(res.json.id);
  });

  it("measures size and hash on canonical JSON, independent of key order and whitespace", async () => {
    const spec = codeSpec("canon");
    const reordered = Object.fromEntries(Object.entries(spec).reverse());
    const a = await api("POST", "/api/v1/agents", { raw: JSON.stringify(spec, null, 4), headers: { "content-type": "application/json" } });
    const b = await api("POST", "/api/v1/agents", { body: reordered });
    expect(a.status).toBe(201);
    expect(b.status).toBe(200);
    expect(b.json.contentHash).toBe(a.json.contentHash);
    const stored = await api("GET", "/api/v1/agents/canon/versions/1.0.0");
    expect(new TextEncoder().encode(canonicalJson(stored.json.spec)).byteLength).toBe(a.json.sizeBytes);
  });

  it("accepts exactly 6,656 bytes and refuses 6,657 with a detail naming size and limit", async () => {
    const ok = await api("POST", "/api/v1/agents", { body: specOfSize("at-limit", MAX_SPEC_BYTES) });
    expect(ok.status).toBe(201);
    expect(ok.json.sizeBytes).toBe(6656);
    const before = await rowCounts();
    const over = await api("POST", "/api/v1/agents", { body: specOfSize("over-limit", MAX_SPEC_BYTES + 1) });
    expect(over.status).toBe(422);
    expect(over.headers.get("content-type")).toContain("application/problem+json");
    expect(over.json.type).toBe("/problems/spec-too-large");
    expect(over.json.detail).toContain("6657");
    expect(over.json.detail).toContain("6656");
    expect(await rowCounts()).toEqual(before);
  });

  it("re-posting identical content is idempotent; different content under the same version is 409", async () => {
    const first = await api("POST", "/api/v1/agents", { body: codeSpec("idem") });
    const again = await api("POST", "/api/v1/agents", { body: codeSpec("idem") });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ id: first.json.id, created: false, contentHash: first.json.contentHash });
    const before = await rowCounts();
    const changed = await api("POST", "/api/v1/agents", { body: codeSpec("idem", "1.0.0", { description: "changed" }) });
    expect(changed.status).toBe(409);
    const newVersion = await api("POST", "/api/v1/agents", { body: codeSpec("idem", "2.0.0") });
    expect(newVersion.status).toBe(409);
    expect(newVersion.json.detail).toContain("PUT");
    expect(await rowCounts()).toEqual(before);
  });

  it("rejects malformed JSON (400), wrong types and unknown fields (422 naming the field), wrong media type (415), oversize bodies (413)", async () => {
    const before = await rowCounts();
    const malformed = await api("POST", "/api/v1/agents", { raw: '{"name": ', headers: { "content-type": "application/json" } });
    expect(malformed.status).toBe(400);
    expect(malformed.json.type).toBe("/problems/malformed-json");

    const wrongType = await api("POST", "/api/v1/agents", { body: { ...codeSpec("typed"), capabilities: "echo" } });
    expect(wrongType.status).toBe(422);
    expect(wrongType.json.errors.map((e: { path: string }) => e.path)).toContain("capabilities");

    const unknownField = await api("POST", "/api/v1/agents", { body: { ...codeSpec("typed"), admin: true } });
    expect(unknownField.status).toBe(422);

    for (const [field, value] of [
      ["name", "Bad Name"],
      ["version", "1.0"],
      ["kind", "shell"],
      ["dependencies", ["nope"]],
    ] as const) {
      const res = await api("POST", "/api/v1/agents", { body: { ...codeSpec("typed"), [field]: value } });
      expect(res.status, field).toBe(422);
      expect(JSON.stringify(res.json.errors), field).toContain(field === "kind" ? "kind" : field);
    }

    const llmWithoutPrompt = await api("POST", "/api/v1/agents", { body: { name: "llm-agent", version: "1.0.0", kind: "llm", model: "m" } });
    expect(llmWithoutPrompt.status).toBe(422);
    expect(JSON.stringify(llmWithoutPrompt.json.errors)).toContain("prompt");

    const text = await api("POST", "/api/v1/agents", { raw: "name=x", headers: { "content-type": "text/plain" } });
    expect(text.status).toBe(415);

    const huge = await api("POST", "/api/v1/agents", {
      raw: JSON.stringify({ ...codeSpec("huge"), description: "y".repeat(70_000) }),
      headers: { "content-type": "application/json" },
    });
    expect(huge.status).toBe(413);
    expect(huge.json.type).toBe("/problems/payload-too-large");
    expect(await rowCounts()).toEqual(before);
  });

  it("accepts all three kinds", async () => {
    const llm = await api("POST", "/api/v1/agents", {
      body: {
        name: "summarizer",
        version: "0.1.0",
        kind: "llm",
        prompt: "Summarize {{input.text}}",
        model: "anthropic.claude-3-haiku",
        permissions: { models: ["anthropic.claude-3-haiku"] },
      },
    });
    expect(llm.status).toBe(201);
    const agent = await api("POST", "/api/v1/agents", {
      body: { name: "helpdesk", version: "0.1.0", kind: "bedrock-agent", bedrockAgent: { agentId: "AGENT1", aliasId: "ALIAS1" } },
    });
    expect(agent.status).toBe(201);
  });
});

describe("dependencies", () => {
  it("resolve to registered versions; each missing one is named", async () => {
    await api("POST", "/api/v1/agents", { body: codeSpec("tokenizer", "1.2.0") });
    const ok = await api("POST", "/api/v1/agents", { body: codeSpec("parser", "1.0.0", { dependencies: ["tokenizer@^1.0.0"] }) });
    expect(ok.status).toBe(201);
    const missing = await api("POST", "/api/v1/agents", { body: codeSpec("lexer", "1.0.0", { dependencies: ["tokenizer@^2.0.0", "ghost@*"] }) });
    expect(missing.status).toBe(422);
    expect(missing.json.type).toBe("/problems/unresolved-dependency");
    expect(missing.json.detail).toContain("tokenizer@^2.0.0");
    expect(missing.json.detail).toContain("ghost@*");
    expect((await api("GET", "/api/v1/agents/lexer")).status).toBe(404);
  });

  it("refuses a cycle and names it", async () => {
    await api("POST", "/api/v1/agents", { body: codeSpec("cyc-a", "1.0.0") });
    await api("POST", "/api/v1/agents", { body: codeSpec("cyc-b", "1.0.0", { dependencies: ["cyc-a@^1.0.0"] }) });
    await api("POST", "/api/v1/agents", { body: codeSpec("cyc-c", "1.0.0", { dependencies: ["cyc-b@^1.0.0"] }) });
    const res = await api("PUT", "/api/v1/agents/cyc-a", { body: codeSpec("cyc-a", "1.1.0", { dependencies: ["cyc-c@^1.0.0"] }) });
    expect(res.status).toBe(422);
    expect(res.json.type).toBe("/problems/dependency-cycle");
    expect(res.json.detail).toContain("cyc-a -> cyc-c -> cyc-b -> cyc-a");
    expect(res.json.cycle).toEqual(["cyc-a", "cyc-c", "cyc-b", "cyc-a"]);
    const self = await api("PUT", "/api/v1/agents/cyc-a", { body: codeSpec("cyc-a", "1.2.0", { dependencies: ["cyc-a@^1.0.0"] }) });
    expect(self.status).toBe(422);
    expect((await api("GET", "/api/v1/agents/cyc-a/versions")).json.items.map((v: { version: string }) => v.version)).toEqual(["1.0.0"]);
  });
});

describe("versions, channels, retire", () => {
  it("publishes versions with PUT, lists them newest first, moves channels with history", async () => {
    const created = await api("POST", "/api/v1/agents", { body: codeSpec("pub") });
    const v2 = await api("PUT", "/api/v1/agents/pub", { body: codeSpec("pub", "1.1.0", { capabilities: ["echo", "shout"] }) });
    expect(v2.status).toBe(201);
    const v10 = await api("PUT", `/api/v1/agents/${created.json.id}`, { body: codeSpec("pub", "1.10.0") });
    expect(v10.status).toBe(201);
    const versions = await api("GET", "/api/v1/agents/pub/versions?limit=2");
    expect(versions.json.items.map((v: { version: string }) => v.version)).toEqual(["1.10.0", "1.1.0"]);
    const rest = await api("GET", `/api/v1/agents/pub/versions?limit=2&cursor=${versions.json.nextCursor}`);
    expect(rest.json).toMatchObject({ items: [{ version: "1.0.0" }], nextCursor: null });

    const detail = await api("GET", "/api/v1/agents/pub");
    expect(detail.json).toMatchObject({ latestVersion: "1.10.0", channels: { live: "1.0.0" }, latest: { version: "1.10.0" } });

    const move = await api("PUT", "/api/v1/agents/pub/channels/canary", { body: { version: "1.1.0" } });
    expect(move.json).toMatchObject({ channel: "canary", version: "1.1.0", previous: null, moved: true });
    await api("PUT", "/api/v1/agents/pub/channels/live", { body: { version: "1.1.0", reason: "promote" } });
    expect((await api("GET", "/api/v1/agents/pub")).json.channels).toEqual({ live: "1.1.0", canary: "1.1.0" });
    const missing = await api("PUT", "/api/v1/agents/pub/channels/live", { body: { version: "9.9.9" } });
    expect(missing.status).toBe(404);
    const history = await api("GET", "/api/v1/agents/pub/deployments");
    expect(history.json.items[0]).toMatchObject({ channel: "live", fromVersion: "1.0.0", toVersion: "1.1.0", actor: "admin", reason: "promote" });
    expect(history.json.items).toHaveLength(3);

    const mismatch = await api("PUT", "/api/v1/agents/pub", { body: codeSpec("other", "3.0.0") });
    expect(mismatch.status).toBe(422);
    const description = await api("PUT", "/api/v1/agents/pub", { body: { description: "new words" } });
    expect(description.json.description).toBe("new words");
  });

  it("two concurrent publishes of one version: exactly one wins", async () => {
    await api("POST", "/api/v1/agents", { body: codeSpec("race") });
    const results = await Promise.all(["left", "right", "up", "down"].map((d) => api("PUT", "/api/v1/agents/race", { body: codeSpec("race", "2.0.0", { description: d }) })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
    const stored = await api("GET", "/api/v1/agents/race/versions/2.0.0");
    const winner = results.find((r) => r.status === 201)!;
    expect(stored.json.contentHash).toBe(winner.json.contentHash);
  });

  it("retiring hides the agent from lists and lookups but keeps its versions", async () => {
    await api("POST", "/api/v1/agents", { body: codeSpec("old-timer") });
    expect((await api("DELETE", "/api/v1/agents/old-timer")).status).toBe(204);
    expect((await api("GET", "/api/v1/agents/old-timer")).status).toBe(404);
    const list = await api("GET", "/api/v1/agents?q=old-timer");
    expect(list.json.items).toEqual([]);
    const rows = await env.DB.prepare("select count(*) as n from agent_versions v join agents a on a.id = v.agent_id where a.name = 'old-timer'").first<{ n: number }>();
    expect(rows?.n).toBe(1);
  });
});

describe("GET /api/v1/agents", () => {
  it("paginates with a cursor that stays stable while rows are inserted, and filters", async () => {
    for (let i = 0; i < 7; i++) {
      await api("POST", "/api/v1/agents", { body: codeSpec(`page-${i}`, "1.0.0", { capabilities: i % 2 ? ["odd"] : ["even"], description: i === 3 ? "the special one" : "" }) });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let inserted = 0;
    do {
      const res: Awaited<ReturnType<typeof api>> = await api("GET", `/api/v1/agents?limit=3&q=page-${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      seen.push(...res.json.items.map((a: { name: string }) => a.name));
      cursor = res.json.nextCursor;
      // Concurrent inserts between pages must not shift or duplicate rows already listed.
      await Promise.all([0, 1].map(() => api("POST", "/api/v1/agents", { body: codeSpec(`page-late-${inserted++}`) })));
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    for (let i = 0; i < 7; i++) expect(seen).toContain(`page-${i}`);

    const odd = await api("GET", "/api/v1/agents?capability=odd&limit=100");
    expect(odd.json.items.map((a: { name: string }) => a.name).sort()).toEqual(["page-1", "page-3", "page-5"]);
    const q = await api("GET", "/api/v1/agents?q=special");
    expect(q.json.items.map((a: { name: string }) => a.name)).toEqual(["page-3"]);
    const kind = await api("GET", "/api/v1/agents?kind=llm&limit=100");
    expect(kind.json.items.length).toBeGreaterThan(0);
    expect(kind.json.items.every((a: { kind: string }) => a.kind === "llm")).toBe(true);
  });

  it("rejects bad paging parameters", async () => {
    expect((await api("GET", "/api/v1/agents?limit=101")).status).toBe(422);
    expect((await api("GET", "/api/v1/agents?limit=abc")).status).toBe(422);
    const badCursor = await api("GET", "/api/v1/agents?cursor=not-a-cursor");
    expect(badCursor.status).toBe(400);
    expect(badCursor.json.errors[0].path).toBe("cursor");
  });
});
