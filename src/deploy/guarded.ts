import { and, eq, getTableColumns, is, not, SQL, sql } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { newId } from "../ids";
import { channels, deployments } from "../registry/schema";
import type { Db } from "../registry/store";

/**
 * Statements for one D1 batch whose every write holds only while a guard does, so a decision and the work it
 * decides land together or not at all. D1 runs a batch as one transaction: put the guarded work first and the
 * statement that flips the guard (e.g. `status = 'canary'` → `'live'`) last.
 */

/** `INSERT … SELECT <row> WHERE <guard>`: the row is written only while the guard holds. A value may be an SQL expression. */
export function insertWhen<T extends SQLiteTable>(db: Db, table: T, row: { [K in keyof T["$inferInsert"]]: T["$inferInsert"][K] | SQL }, guard: SQL) {
  const values = Object.entries(getTableColumns(table)).map(([key, column]) => {
    const value = (row as Record<string, unknown>)[key] ?? null;
    return is(value, SQL) ? value : sql.param(value, column);
  });
  return db.insert(table).select(sql`select ${sql.join(values, sql`, `)} where ${guard}`);
}

export interface ChannelMove {
  agentId: string;
  channel: string;
  version: string;
  actor: string;
  reason: string;
  now: number;
}

/**
 * Points a channel at a version and records the move in the deployment history, both only while `guard`
 * holds; a channel already at the version gets no history row (as moveChannel). The caller checks that the
 * version exists and wraps the batch in `writing()`.
 */
export function moveChannelWhen(db: Db, m: ChannelMove, guard: SQL) {
  const here = and(eq(channels.agentId, m.agentId), eq(channels.channel, m.channel));
  const previous = sql`(select ${channels.version} from ${channels} where ${here})`;
  const alreadyThere = sql`exists (select 1 from ${channels} where ${here} and ${channels.version} = ${m.version})`;
  return [
    // History first: it reads the channel's version before the move.
    insertWhen(
      db,
      deployments,
      { id: newId("dep", m.now), agentId: m.agentId, channel: m.channel, fromVersion: previous, toVersion: m.version, actor: m.actor, reason: m.reason, at: m.now },
      and(guard, not(alreadyThere))!,
    ),
    insertWhen(db, channels, { agentId: m.agentId, channel: m.channel, version: m.version, updatedAt: m.now, updatedBy: m.actor }, guard).onConflictDoUpdate({
      target: [channels.agentId, channels.channel],
      set: { version: m.version, updatedAt: m.now, updatedBy: m.actor },
    }),
  ] as const;
}

/** A guard that always holds, for a batch that needs no condition. */
export const always = sql`1`;
