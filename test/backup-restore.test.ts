import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { listTables } from "../src/backup/backup";
import { listBackups, writeBackup } from "../src/backup/store";
import { backupTables } from "../src/backup/tables";
import { api, codeSpec } from "./helpers";

const ndjson = (text: string) =>
  text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
const withoutCreatedAt = (text: string) => {
  const [header, ...rows] = ndjson(text);
  return { header: { ...header, createdAt: undefined }, rows };
};
async function wipe() {
  const tables = await listTables(env.DB);
  await env.DB.batch([...tables].reverse().map((t) => env.DB.prepare(`DELETE FROM "${t}"`)));
}
async function totalRows() {
  let n = 0;
  for (const t of await listTables(env.DB)) n += (await env.DB.prepare(`SELECT count(*) AS n FROM "${t}"`).first<{ n: number }>())!.n;
  return n;
}
const restore = (body: string) => api("POST", "/api/v1/restore", { raw: body, headers: { "content-type": "application/x-ndjson" } });

describe("backup and restore", () => {
  it("orders registry tables first and leaves out bookkeeping and transient tables", () => {
    expect(backupTables(["suites", "agents", "d1_migrations", "sqlite_sequence", "_cf_KV", "registry_generation", "agent_versions", "api_keys"])).toEqual([
      "agents",
      "agent_versions",
      "api_keys",
      "suites",
    ]);
  });

  it("round-trips: a backup restored into an emptied instance backs up identically; all or nothing; 409 when not empty", async () => {
    const created = await api("POST", "/api/v1/agents", { body: codeSpec("backed-up") });
    expect(created.status).toBe(201);
    const agentId = created.json.id;
    expect((await api("PUT", `/api/v1/agents/${agentId}`, { body: codeSpec("backed-up", "1.1.0") })).status).toBe(201);
    expect((await api("PUT", `/api/v1/agents/${agentId}/channels/canary`, { body: { version: "1.1.0" } })).status).toBe(200);
    const key = await api("POST", "/api/v1/keys", { body: { name: "ops", scopes: ["agents:read"] } });
    expect(key.status).toBe(201);
    // Enough rows that the stream is far past the API's 64 KB body limit.
    const now = Date.now();
    await env.DB.batch(
      Array.from({ length: 400 }, (_, i) =>
        env.DB.prepare("INSERT INTO api_keys (id, name, prefix, hash, scopes, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)").bind(
          `key_bulk${i}`,
          `bulk ${i} ${"x".repeat(200)}`,
          "tdk_bulk",
          `hash-${i}`,
          '["agents:read"]',
          now,
          "test",
        ),
      ),
    );

    const first = await api("GET", "/api/v1/backup");
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("application/x-ndjson");
    expect(first.text.length).toBeGreaterThan(64 * 1024);
    const [header, ...rows] = ndjson(first.text);
    expect(header).toMatchObject({ format: "tdev-backup", version: 1, createdAt: expect.any(String) });
    expect(header.counts.agents).toBe(1);
    expect(header.counts.agent_versions).toBe(2);
    expect(header.counts.api_keys).toBe(401);
    expect(rows.length).toBe(Object.values(header.counts as Record<string, number>).reduce((a, b) => a + b, 0));
    // Hashes only: the key itself is nowhere in the backup.
    expect(first.text).not.toContain(key.json.key);

    expect((await restore(first.text)).status).toBe(409);

    await wipe();
    const truncated = first.text.trim().split("\n").slice(0, -1).join("\n");
    const refused = await restore(truncated);
    expect(refused.status).toBe(422);
    expect(refused.json.detail).toContain("the header promises");
    expect(await totalRows()).toBe(0);

    const restored = await restore(first.text);
    expect(restored.status, restored.text).toBe(200);
    expect(restored.json.counts.api_keys).toBe(401);
    const second = await api("GET", "/api/v1/backup");
    expect(withoutCreatedAt(second.text)).toEqual(withoutCreatedAt(first.text));
    expect((await api("GET", `/api/v1/agents/${agentId}`)).json.channels).toEqual({ live: "1.0.0", canary: "1.1.0" });
  });

  it("keeps the newest BACKUP_RETENTION backups in R2, lists them and serves each", async () => {
    const small = { ...env, BACKUP_RETENTION: "2" };
    for (const i of [1, 2, 3]) await writeBackup(small, Date.UTC(2026, 0, i));
    const kept = await listBackups(env);
    expect(kept.map((b) => b.name)).toEqual([
      `${new Date(Date.UTC(2026, 0, 3)).toISOString().replaceAll(":", "-")}.ndjson`,
      `${new Date(Date.UTC(2026, 0, 2)).toISOString().replaceAll(":", "-")}.ndjson`,
    ]);
    const list = await api("GET", "/api/v1/backups");
    expect(list.json.items.map((b: any) => b.name)).toEqual(kept.map((b) => b.name));
    const one = await api("GET", `/api/v1/backups/${kept[0]!.name}`);
    expect(one.status).toBe(200);
    expect(ndjson(one.text)[0]).toMatchObject({ format: "tdev-backup", createdAt: "2026-01-03T00:00:00.000Z" });
    expect((await api("GET", "/api/v1/backups/nope.ndjson")).status).toBe(404);
    const token = (await api("POST", "/api/v1/keys", { body: { name: "reader", scopes: ["agents:read"] } })).json.key;
    expect((await api("GET", "/api/v1/backup", { token })).status).toBe(403);
    expect((await restore("")).status).not.toBe(200);
  });
});
