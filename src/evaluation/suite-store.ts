import { and, desc, eq, or, type SQL } from "drizzle-orm";
import { iso } from "../encoding";
import { AppError, isUniqueViolation } from "../errors";
import { newId } from "../ids";
import { canonicalJson, sha256Hex } from "../registry/canonical";
import { afterTimeId, type Page, toPage } from "../registry/cursor";
import { findAgent, type Db } from "../registry/store";
import { suites, type SuiteRow } from "./schema";
import { splitCases } from "./split";
import type { Suite, SuiteInput } from "./suite";

/** Evaluation suites in D1: immutable once created (same name and content is idempotent), read by id, name or agent. */

export const suiteOf = (row: SuiteRow): Suite => ({
  id: row.id,
  name: row.name,
  agentId: row.agentId,
  cases: row.cases,
  contentHash: row.contentHash,
  ...(row.judges ? { judges: row.judges } : {}),
});

export function suiteView(row: SuiteRow, withCases = false) {
  const split = splitCases(row.cases.map((c) => c.id));
  return {
    id: row.id,
    name: row.name,
    agentId: row.agentId,
    description: row.description,
    caseCount: row.caseCount,
    guardCases: row.cases.filter((c) => c.guard).map((c) => c.id),
    heldOutCases: [...split.heldOut],
    contentHash: row.contentHash,
    judges: row.judges ?? null,
    createdAt: iso(row.createdAt),
    createdBy: row.createdBy,
    ...(withCases ? { cases: row.cases } : {}),
  };
}

/** Creates a suite; the same name with the same content is idempotent, with other content a conflict. */
export async function createSuite(db: Db, input: SuiteInput, actor: string): Promise<{ created: boolean; row: SuiteRow }> {
  const agent = await findAgent(db, input.agent);
  const contentHash = await sha256Hex(canonicalJson({ cases: input.cases, judges: input.judges ?? null }));
  const existing = await findSuiteByName(db, input.name);
  const settle = (row: SuiteRow) => {
    if (row.contentHash !== contentHash || row.agentId !== agent.id)
      throw new AppError("conflict", `A suite named ${input.name} already exists with other content; suites are immutable, create one under a new name.`);
    return { created: false, row };
  };
  if (existing) return settle(existing);
  const now = Date.now();
  const row: SuiteRow = {
    id: newId("ste", now),
    name: input.name,
    agentId: agent.id,
    description: input.description,
    judges: input.judges ?? null,
    cases: input.cases,
    caseCount: input.cases.length,
    contentHash,
    createdAt: now,
    createdBy: actor,
  };
  try {
    await db.insert(suites).values(row);
  } catch (err) {
    const winner = isUniqueViolation(err) ? await findSuiteByName(db, input.name) : undefined;
    if (!winner) throw err;
    return settle(winner);
  }
  return { created: true, row };
}

async function findSuiteByName(db: Db, name: string): Promise<SuiteRow | undefined> {
  const [row] = await db.select().from(suites).where(eq(suites.name, name)).limit(1);
  return row;
}

export async function findSuite(db: Db, idOrName: string): Promise<SuiteRow> {
  const [row] = await db
    .select()
    .from(suites)
    .where(or(eq(suites.id, idOrName), eq(suites.name, idOrName)))
    .limit(1);
  if (!row) throw new AppError("not_found", `No suite ${idOrName}.`);
  return row;
}

/** The suite to score an agent with: the one named, else the agent's newest. */
export async function suiteForAgent(db: Db, agentId: string, idOrName?: string): Promise<SuiteRow> {
  if (idOrName) {
    const row = await findSuite(db, idOrName);
    if (row.agentId !== agentId)
      throw new AppError("validation_failed", `Suite ${row.name} scores another agent.`, { errors: [{ path: "suite", message: "belongs to another agent" }] });
    return row;
  }
  const [row] = await db.select().from(suites).where(eq(suites.agentId, agentId)).orderBy(desc(suites.createdAt)).limit(1);
  if (!row) throw new AppError("not_found", "This agent has no evaluation suite; create one with POST /api/v1/suites.");
  return row;
}

export async function listSuites(db: Db, query: { limit: number; cursor?: string; agentId?: string }): Promise<Page<ReturnType<typeof suiteView>>> {
  const filters: (SQL | undefined)[] = [];
  if (query.agentId) filters.push(eq(suites.agentId, query.agentId));
  filters.push(afterTimeId(query.cursor, suites.createdAt, suites.id, "desc"));
  const rows = await db
    .select()
    .from(suites)
    .where(and(...filters))
    .orderBy(desc(suites.createdAt), desc(suites.id))
    .limit(query.limit + 1);
  return toPage(
    rows,
    query.limit,
    (r) => suiteView(r),
    (r) => [r.createdAt, r.id],
  );
}
