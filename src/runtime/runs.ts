import { z } from "@hono/zod-openapi";
import { and, desc, eq, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { iso } from "../encoding";
import { AppError } from "../errors";
import { afterTimeId, type Page, toPage } from "../registry/cursor";
import { runs, type RunRow } from "./schema";

/** One run as the API shows it. */
export const runViewSchema = z
  .object({
    id: z.string(),
    agentId: z.string().nullable(),
    agent: z.string(),
    version: z.string(),
    kind: z.string(),
    contentHash: z.string(),
    actor: z.string(),
    source: z.string(),
    sessionId: z.string().nullable(),
    status: z.enum(["succeeded", "failed"]),
    input: z.unknown(),
    output: z.unknown(),
    error: z.object({ code: z.string(), type: z.string().nullable(), detail: z.string() }).nullable(),
    limitViolation: z.boolean(),
    modelId: z.string().nullable(),
    stopReason: z.string().nullable(),
    modelLatencyMs: z.number().int().nullable().openapi({ description: "Time spent waiting for Bedrock, measured by this system" }),
    usage: z.object({ inputTokens: z.number().int(), outputTokens: z.number().int(), totalTokens: z.number().int() }).nullable(),
    logs: z.array(z.string()),
    startedAt: z.string(),
    finishedAt: z.string(),
    durationMs: z.number().int(),
    traceId: z.string().nullable().openapi({ description: "W3C trace id of the request, task or message that caused this run" }),
  })
  .openapi("Run");

export type RunView = z.infer<typeof runViewSchema>;

const db = (d1: D1Database) => drizzle(d1);
const parseJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

export function runView(row: RunRow): RunView {
  return {
    id: row.id,
    agentId: row.agentId,
    agent: row.agentName,
    version: row.version,
    kind: row.kind,
    contentHash: row.contentHash,
    actor: row.actor,
    source: row.source,
    sessionId: row.sessionId,
    status: row.status,
    input: parseJson(row.input),
    output: parseJson(row.output),
    error: row.errorCode ? { code: row.errorCode, type: row.errorType, detail: row.errorDetail ?? "" } : null,
    limitViolation: row.limitViolation,
    modelId: row.modelId,
    stopReason: row.stopReason,
    modelLatencyMs: row.modelLatencyMs,
    usage: row.totalTokens === null ? null : { inputTokens: row.inputTokens ?? 0, outputTokens: row.outputTokens ?? 0, totalTokens: row.totalTokens },
    logs: row.logs ?? [],
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    durationMs: row.durationMs,
    traceId: row.traceId,
  };
}

/** A drizzle handle on a D1 session (it uses only prepare and batch, which sessions have). */
const sessionDb = (session: D1DatabaseSession) => drizzle(session as unknown as D1Database);

/**
 * A replica may answer first; a run it does not have yet (written a moment ago at the primary) is
 * looked up at the primary before the answer is "not found".
 */
export async function getRun(d1: D1Database, id: string): Promise<RunView> {
  const find = async (session: D1DatabaseSession) => (await sessionDb(session).select().from(runs).where(eq(runs.id, id)).limit(1))[0];
  const row = (await find(d1.withSession("first-unconstrained"))) ?? (await find(d1.withSession("first-primary")));
  if (!row) throw new AppError("not_found", `No run ${id}.`);
  return runView(row);
}

export interface RunListQuery {
  agent?: string;
  traceId?: string;
  status?: "succeeded" | "failed";
  limit: number;
  cursor?: string;
}

/** Newest first; the cursor is the (startedAt, id) of the last run seen. */
export async function listRuns(d1: D1Database, query: RunListQuery): Promise<Page<RunView>> {
  const filters: (SQL | undefined)[] = [];
  if (query.agent) filters.push(eq(runs.agentName, query.agent));
  if (query.status) filters.push(eq(runs.status, query.status));
  if (query.traceId) filters.push(eq(runs.traceId, query.traceId));
  filters.push(afterTimeId(query.cursor, runs.startedAt, runs.id, "desc"));
  const rows = await db(d1)
    .select()
    .from(runs)
    .where(filters.length ? and(...filters) : undefined)
    .orderBy(desc(runs.startedAt), desc(runs.id))
    .limit(query.limit + 1);
  return toPage(rows, query.limit, runView, (r) => [r.startedAt, r.id]);
}
