import { and, desc, eq, gte, ne } from "drizzle-orm";
import type { Db } from "../registry/store";
import { runs } from "../runtime/schema";
import type { RunTally } from "./canary";
import { agents } from "../registry/schema";

/**
 * Successes among a version's last `window` live runs since `since` (runs recorded by the runtime;
 * evaluation runs of candidates are not live traffic and are left out).
 */
export async function liveTally(d: Db, agentId: string, version: string, since: number, window: number): Promise<RunTally> {
  const [agent] = await d.select({ name: agents.name }).from(agents).where(eq(agents.id, agentId));
  if (!agent) return { succeeded: 0, total: 0 };
  const rows = await d
    .select({ status: runs.status })
    .from(runs)
    .where(and(eq(runs.agentName, agent.name), eq(runs.version, version), ne(runs.source, "evaluation"), gte(runs.startedAt, since)))
    .orderBy(desc(runs.startedAt), desc(runs.id))
    .limit(window);
  return { succeeded: rows.filter((r) => r.status === "succeeded").length, total: rows.length };
}
