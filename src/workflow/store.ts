import { and, asc, desc, eq, gt, sql } from "drizzle-orm";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import { AppError, isUniqueViolation } from "../errors";
import { newId } from "../ids";
import { canonicalJson, sha256Hex } from "../registry/canonical";
import { decodeCursor, type Page, toPage } from "../registry/cursor";
import { planWorkflow } from "./dag";
import { workflowSchema, type Workflow } from "./definition";
import { workflows, type WorkflowRow } from "./schema";

type Db = DrizzleD1Database<Record<string, never>>;
export const workflowDb = (d1: D1Database): Db => drizzle(d1);

export interface WorkflowSummary {
  id: string;
  name: string;
  version: number;
  description: string;
  stepCount: number;
  contentHash: string;
  createdAt: string;
  createdBy: string;
}

export interface WorkflowDetail extends WorkflowSummary {
  definition: Workflow;
  levels: string[][];
}

const summary = (r: WorkflowRow): WorkflowSummary => ({
  id: r.id,
  name: r.name,
  version: r.version,
  description: (JSON.parse(r.definition) as Workflow).description,
  stepCount: r.stepCount,
  contentHash: r.contentHash,
  createdAt: new Date(r.createdAt).toISOString(),
  createdBy: r.createdBy,
});

export function workflowDetail(r: WorkflowRow): WorkflowDetail {
  const definition = workflowSchema.parse(JSON.parse(r.definition));
  return { ...summary(r), definition, levels: planWorkflow(definition).levels };
}

async function latest(db: Db, name: string): Promise<WorkflowRow | undefined> {
  const [row] = await db.select().from(workflows).where(eq(workflows.name, name)).orderBy(desc(workflows.version)).limit(1);
  return row;
}

/**
 * Stores a validated definition as the next version of its name. Posting the same content as the latest
 * version changes nothing and answers that version (created: false).
 */
export async function saveWorkflow(db: Db, wf: Workflow, actor: string): Promise<{ created: boolean; workflow: WorkflowDetail }> {
  const plan = planWorkflow(wf);
  const definition = canonicalJson(wf);
  const contentHash = await sha256Hex(definition);
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await latest(db, wf.name);
    if (current?.contentHash === contentHash) return { created: false, workflow: workflowDetail(current) };
    const now = Date.now();
    const row: WorkflowRow = {
      id: newId("wfl", now),
      name: wf.name,
      version: (current?.version ?? 0) + 1,
      definition,
      contentHash,
      stepCount: wf.steps.length,
      createdAt: now,
      createdBy: actor,
    };
    try {
      await db.insert(workflows).values(row);
      return { created: true, workflow: { ...summary(row), definition: wf, levels: plan.levels } };
    } catch (err) {
      if (!isUniqueViolation(err)) throw err; // a concurrent save took this version number: look again
    }
  }
  throw new AppError("conflict", `Workflow ${wf.name} is being changed concurrently; try again.`);
}

export async function getWorkflow(db: Db, name: string, version?: number): Promise<WorkflowRow> {
  const row =
    version === undefined
      ? await latest(db, name)
      : (
          await db
            .select()
            .from(workflows)
            .where(and(eq(workflows.name, name), eq(workflows.version, version)))
            .limit(1)
        )[0];
  if (!row) throw new AppError("not_found", version === undefined ? `No workflow ${name}.` : `Workflow ${name} has no version ${version}.`);
  return row;
}

/** The latest version of each workflow, by name. */
export async function listWorkflows(db: Db, query: { limit: number; cursor?: string }): Promise<Page<WorkflowSummary>> {
  const after = query.cursor ? (decodeCursor(query.cursor, ["string"])[0] as string) : undefined;
  const rows = await db
    .select()
    .from(workflows)
    .where(
      and(sql`${workflows.version} = (select max(w2.version) from ${workflows} w2 where w2.name = ${workflows.name})`, after !== undefined ? gt(workflows.name, after) : undefined),
    )
    .orderBy(asc(workflows.name))
    .limit(query.limit + 1);
  return toPage(rows, query.limit, summary, (r) => [r.name]);
}

export async function listWorkflowVersions(db: Db, name: string, query: { limit: number; cursor?: string }): Promise<Page<WorkflowSummary>> {
  const before = query.cursor ? (decodeCursor(query.cursor, ["number"])[0] as number) : undefined;
  const rows = await db
    .select()
    .from(workflows)
    .where(and(eq(workflows.name, name), before !== undefined ? sql`${workflows.version} < ${before}` : undefined))
    .orderBy(desc(workflows.version))
    .limit(query.limit + 1);
  if (rows.length === 0 && before === undefined) throw new AppError("not_found", `No workflow ${name}.`);
  return toPage(rows, query.limit, summary, (r) => [r.version]);
}
