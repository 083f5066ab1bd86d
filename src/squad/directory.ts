import { and, asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { AppError, unwrap } from "../errors";
import { newId } from "../ids";
import { sha256Hex } from "../registry/canonical";
import { afterTimeId, type Page, toPage } from "../registry/cursor";
import type { SquadConfig } from "./config";
import { squads, type SquadRow } from "./schema";

/** The D1 listing of squads; each squad's Durable Object holds its live state. */
const db = (d1: D1Database) => drizzle(d1);

export interface SquadView {
  id: string;
  name: string;
  description: string;
  members: SquadConfig["members"];
  policy: SquadConfig["policy"];
  createdAt: string;
  updatedAt: string;
  createdBy: string;
}

export const squadView = (r: SquadRow): SquadView => ({
  id: r.id,
  name: r.name,
  description: r.description,
  members: r.members,
  policy: r.policy,
  createdAt: new Date(r.createdAt).toISOString(),
  updatedAt: new Date(r.updatedAt).toISOString(),
  createdBy: r.createdBy,
});

export async function insertSquad(d1: D1Database, id: string, config: SquadConfig, actor: string): Promise<SquadRow> {
  const now = Date.now();
  const row: SquadRow = {
    id,
    name: config.name,
    description: config.description,
    members: config.members,
    policy: config.policy,
    createdAt: now,
    updatedAt: now,
    createdBy: actor,
  };
  // A retry racing its own first attempt finds the row there: keep the first.
  await db(d1).insert(squads).values(row).onConflictDoNothing();
  return findSquad(d1, id);
}

/*
 * A squad's configuration lives in two places: its Durable Object (what dispatch obeys: the work) and its D1
 * row (the listing: the record). Create, update and delete all change the object first and D1 second, and
 * each step is idempotent, so a failure between the two is completed by retrying the same request. Until
 * then the listing lags: a created squad is not listed yet, an updated one lists its old name, a deleted
 * one answers 404 from its object.
 */

type SquadEnv = { DB: D1Database; SQUADS: DurableObjectNamespace<import("./squad").Squad> };

/** The same caller and Idempotency-Key always name the same squad, so a retried create finds its first attempt. */
const squadIdFor = async (actor: string, idempotencyKey: string) => `sqd_${(await sha256Hex(`${actor}\n${idempotencyKey}`)).slice(0, 28)}`;

export async function createSquad(env: SquadEnv, config: SquadConfig, actor: string, idempotencyKey?: string): Promise<{ row: SquadRow; created: boolean }> {
  const id = idempotencyKey ? await squadIdFor(actor, idempotencyKey) : newId("sqd");
  if (idempotencyKey) {
    const [done] = await db(env.DB).select().from(squads).where(eq(squads.id, id)).limit(1);
    if (done) return { row: done, created: false };
  }
  unwrap(await squadStub(env, id).configure(id, config));
  return { row: await insertSquad(env.DB, id, config, actor), created: true };
}

export async function reconfigureSquad(env: SquadEnv, id: string, config: SquadConfig): Promise<SquadRow> {
  const row = await findSquad(env.DB, id);
  unwrap(await squadStub(env, id).configure(id, config));
  return updateSquad(env.DB, row, config);
}

export async function removeSquad(env: SquadEnv, id: string): Promise<void> {
  await findSquad(env.DB, id);
  unwrap(await squadStub(env, id).destroy());
  await deleteSquad(env.DB, id);
}

export async function findSquad(d1: D1Database, id: string): Promise<SquadRow> {
  const [row] = await db(d1).select().from(squads).where(eq(squads.id, id)).limit(1);
  if (!row) throw new AppError("not_found", `No squad ${id}.`);
  return row;
}

export async function updateSquad(d1: D1Database, row: SquadRow, config: SquadConfig): Promise<SquadRow> {
  const next = { ...row, name: config.name, description: config.description, members: config.members, policy: config.policy, updatedAt: Date.now() };
  await db(d1)
    .update(squads)
    .set({ name: next.name, description: next.description, members: next.members, policy: next.policy, updatedAt: next.updatedAt })
    .where(eq(squads.id, row.id));
  return next;
}

export async function deleteSquad(d1: D1Database, id: string): Promise<void> {
  await db(d1).delete(squads).where(eq(squads.id, id));
}

export async function listSquads(d1: D1Database, query: { limit: number; cursor?: string }): Promise<Page<SquadView>> {
  const filters = [];
  filters.push(afterTimeId(query.cursor, squads.createdAt, squads.id, "asc"));
  const rows = await db(d1)
    .select()
    .from(squads)
    .where(and(...filters))
    .orderBy(asc(squads.createdAt), asc(squads.id))
    .limit(query.limit + 1);
  return toPage(rows, query.limit, squadView, (r) => [r.createdAt, r.id]);
}

/** The squad's Durable Object stub; every squad id is `sqd_…`. */
export function squadStub(env: { SQUADS: DurableObjectNamespace<import("./squad").Squad> }, id: string) {
  if (!/^sqd_[0-9a-f]{28}$/.test(id)) throw new AppError("not_found", `No squad ${id}.`);
  return env.SQUADS.get(env.SQUADS.idFromName(id));
}

/** Publishes an event into a squad's stream (for other areas, e.g. messaging topics). */
export async function publishToSquad(env: { SQUADS: DurableObjectNamespace<import("./squad").Squad> }, squadId: string, type: string, data: unknown) {
  return squadStub(env, squadId).publish(type, data);
}
