import { and, count, desc, eq, sql, type SQL } from "drizzle-orm";
import type { Env } from "../env";
import { iso } from "../encoding";
import { AppError } from "../errors";
import { newId } from "../ids";
import { publishEvent } from "../messaging/events";
import { afterTimeId, toPage } from "../registry/cursor";
import { writing } from "../registry/read-cache";
import type { AgentRow } from "../registry/schema";
import { agentChannels, findAgent, findVersion, registryDb, type Db } from "../registry/store";
import { evolutionApprovals, evolutionCandidates, evolutionPolicies, evolutionRuns, type ApprovalRow } from "../evolution/schema";
import { canaryDecision } from "./canary";
import { always, insertWhen, moveChannelWhen } from "./guarded";
import { liveTally } from "./tally";
import { promotions, type PromotionRow } from "./schema";

export const EVOLUTION_TOPIC = "evolution";
export const DEPLOYMENT_TOPIC = "deployments";
const DEFAULT_WINDOW = 20;

type PromotionRequest = { agentId: string; version: string; runId?: string; candidateId?: string; mode: "auto" | "approved"; actor: string; window?: number };

/** The promotion a canary request opens (not yet written), with the agent it is for. */
async function draftPromotion(d: Db, p: PromotionRequest, now: number): Promise<{ agent: AgentRow; row: PromotionRow }> {
  const agent = await findAgent(d, p.agentId, { includeRetired: true });
  if (!(await findVersion(d, agent.id, p.version))) throw new AppError("not_found", `${agent.name} has no version ${p.version}.`);
  const channels = await agentChannels(d, agent.id);
  const row: PromotionRow = {
    id: newId("prm", now),
    agentId: agent.id,
    version: p.version,
    previousLive: channels.live ?? agent.latestVersion,
    runId: p.runId ?? null,
    candidateId: p.candidateId ?? null,
    mode: p.mode,
    status: "canary",
    canaryWindow: p.window ?? DEFAULT_WINDOW,
    canarySince: now,
    detail: null,
    createdAt: now,
    decidedAt: null,
  };
  return { agent, row };
}

/** One batch's statements: canary moves to the version, an older open canary is superseded, the promotion opens — all while `guard` holds. */
function canaryStatements(d: Db, row: PromotionRow, actor: string, guard: SQL) {
  const reason = row.mode === "auto" ? `evolution: passed the safety gate (run ${row.runId})` : `evolution: approved by ${actor}`;
  return [
    ...moveChannelWhen(d, { agentId: row.agentId, channel: "canary", version: row.version, actor, reason, now: row.createdAt }, guard),
    d
      .update(promotions)
      .set({ status: "superseded", decidedAt: row.createdAt, detail: `superseded by ${row.version}` })
      .where(and(eq(promotions.agentId, row.agentId), eq(promotions.status, "canary"), guard)),
    insertWhen(d, promotions, row, guard),
  ] as const;
}

const promotedEvent = (agent: AgentRow, row: PromotionRow) => ({
  agentId: agent.id,
  agent: agent.name,
  version: row.version,
  channel: "canary",
  mode: row.mode,
  runId: row.runId,
  previousLive: row.previousLive,
});

/**
 * Moves a version onto canary and opens its promotion record in one D1 batch; an older open canary is
 * superseded. A retry after the batch landed finds the promotion open and only repeats the event.
 */
export async function promoteToCanary(env: Env, p: PromotionRequest): Promise<PromotionRow> {
  const d = registryDb(env.DB);
  const { agent, row: draft } = await draftPromotion(d, p, Date.now());
  const sameRequest = [eq(promotions.agentId, agent.id), eq(promotions.version, p.version), eq(promotions.status, "canary")];
  if (p.candidateId) sameRequest.push(eq(promotions.candidateId, p.candidateId));
  const [open] = await d
    .select()
    .from(promotions)
    .where(and(...sameRequest))
    .limit(1);
  const row = open ?? draft;
  if (!open) await writing(() => d.batch(canaryStatements(d, row, p.actor, always)));
  await publishEvent(env, EVOLUTION_TOPIC, "evolution.promoted", promotedEvent(agent, row));
  return row;
}

/** Holds a published child that widens permissions until a person approves or rejects it. */
export async function requestApproval(env: Env, a: { agentId: string; runId: string; candidateId: string; version: string; reasons: string[] }): Promise<string> {
  const d = registryDb(env.DB);
  const id = newId("apr");
  await d
    .insert(evolutionApprovals)
    .values({ id, ...a, status: "pending", createdAt: Date.now(), decidedAt: null, decidedBy: null, note: null })
    .onConflictDoNothing();
  const [row] = await d.select({ id: evolutionApprovals.id }).from(evolutionApprovals).where(eq(evolutionApprovals.candidateId, a.candidateId));
  await publishEvent(env, EVOLUTION_TOPIC, "evolution.approval.requested", { approvalId: row!.id, ...a });
  return row!.id;
}

export const approvalView = (r: ApprovalRow) => ({
  id: r.id,
  agentId: r.agentId,
  runId: r.runId,
  candidateId: r.candidateId,
  version: r.version,
  reasons: r.reasons,
  status: r.status as "pending" | "approved" | "rejected",
  createdAt: iso(r.createdAt),
  decidedAt: iso(r.decidedAt),
  decidedBy: r.decidedBy,
  note: r.note,
});

export async function listApprovals(d: Db, q: { limit: number; cursor?: string; status?: string; agentId?: string }) {
  const filters: (SQL | undefined)[] = [];
  if (q.status) filters.push(eq(evolutionApprovals.status, q.status));
  if (q.agentId) filters.push(eq(evolutionApprovals.agentId, q.agentId));
  filters.push(afterTimeId(q.cursor, evolutionApprovals.createdAt, evolutionApprovals.id, "desc"));
  const rows = await d
    .select()
    .from(evolutionApprovals)
    .where(and(...filters))
    .orderBy(desc(evolutionApprovals.createdAt), desc(evolutionApprovals.id))
    .limit(q.limit + 1);
  return toPage(rows, q.limit, approvalView, (r) => [r.createdAt, r.id]);
}

/**
 * Approve → the version goes to canary (a human-approved promotion) in the same D1 batch that records the
 * approval, so neither lands without the other; reject → it stays published but unused. Decided once.
 */
export async function decideApproval(env: Env, id: string, decision: "approve" | "reject", actor: string, note?: string) {
  const d = registryDb(env.DB);
  const [row] = await d.select().from(evolutionApprovals).where(eq(evolutionApprovals.id, id));
  if (!row) throw new AppError("not_found", `No approval ${id}.`);
  const status = decision === "approve" ? "approved" : "rejected";
  const alreadyDecided = (current: ApprovalRow) => {
    if (current.status === status) return approvalView(current); // the same decision again is a no-op
    throw new AppError("conflict", `Approval ${id} was already ${current.status}.`);
  };
  if (row.status !== "pending") return alreadyDecided(row);
  const now = Date.now();
  const isPending = and(eq(evolutionApprovals.id, id), eq(evolutionApprovals.status, "pending"))!;
  const decide = d
    .update(evolutionApprovals)
    .set({ status, decidedAt: now, decidedBy: actor, note: note ?? null })
    .where(isPending)
    .returning();
  let decided: ApprovalRow[];
  let promoted: { agent: AgentRow; row: PromotionRow } | undefined;
  if (decision === "approve") {
    const [policy] = await d.select().from(evolutionPolicies).where(eq(evolutionPolicies.agentId, row.agentId));
    promoted = await draftPromotion(
      d,
      { agentId: row.agentId, version: row.version, runId: row.runId, candidateId: row.candidateId, mode: "approved", actor, window: policy?.policy.canary.window },
      now,
    );
    const stillPending = sql`exists (select 1 from ${evolutionApprovals} where ${isPending})`;
    const results = await writing(() => d.batch([...canaryStatements(d, promoted!.row, actor, stillPending), decide]));
    decided = results.at(-1) as ApprovalRow[];
  } else {
    decided = await decide;
  }
  if (decided.length === 0) {
    const [current] = await d.select().from(evolutionApprovals).where(eq(evolutionApprovals.id, id));
    return alreadyDecided(current!);
  }
  if (promoted) await publishEvent(env, EVOLUTION_TOPIC, "evolution.promoted", promotedEvent(promoted.agent, promoted.row));
  else await publishEvent(env, EVOLUTION_TOPIC, "evolution.approval.rejected", { approvalId: id, agentId: row.agentId, version: row.version, actor });
  return approvalView(decided[0]!);
}

/**
 * Judges every open canary on its live results (see canaryDecision): promotes it to live, rolls it back
 * (canary returns to the previous live version), or leaves it waiting. The channel move and the decision are
 * one D1 batch, guarded by the promotion still being open: decided once, by whoever lands first, never half.
 */
export async function reviewCanaries(env: Env): Promise<{ promoted: string[]; rolledBack: string[]; waiting: string[] }> {
  const d = registryDb(env.DB);
  const open = await d.select().from(promotions).where(eq(promotions.status, "canary"));
  const out = { promoted: [] as string[], rolledBack: [] as string[], waiting: [] as string[] };
  for (const p of open) {
    const canary = await liveTally(d, p.agentId, p.version, p.canarySince, p.canaryWindow);
    const live = await liveTally(d, p.agentId, p.previousLive, 0, p.canaryWindow);
    const { decision, detail } = canaryDecision(canary, live, p.canaryWindow);
    if (decision === "wait") {
      out.waiting.push(p.id);
      continue;
    }
    const now = Date.now();
    const isOpen = and(eq(promotions.id, p.id), eq(promotions.status, "canary"))!;
    const move =
      decision === "promote"
        ? { channel: "live", version: p.version, reason: `canary → live: ${detail}` }
        : { channel: "canary", version: p.previousLive, reason: `rollback: ${detail}` };
    const claim = d
      .update(promotions)
      .set({ status: decision === "promote" ? "live" : "rolled_back", detail, decidedAt: now })
      .where(isOpen)
      .returning({ id: promotions.id });
    const stillOpen = sql`exists (select 1 from ${promotions} where ${isOpen})`;
    const results = await writing(() => d.batch([...moveChannelWhen(d, { agentId: p.agentId, ...move, actor: "evolution", now }, stillOpen), claim]));
    if ((results.at(-1) as { id: string }[]).length === 0) continue;
    const agent = await findAgent(d, p.agentId, { includeRetired: true });
    if (decision === "promote") {
      await publishEvent(env, EVOLUTION_TOPIC, "evolution.promoted", {
        agentId: agent.id,
        agent: agent.name,
        version: p.version,
        channel: "live",
        mode: p.mode,
        previousLive: p.previousLive,
        detail,
      });
      out.promoted.push(p.id);
    } else {
      const event = { agentId: agent.id, agent: agent.name, version: p.version, restored: p.previousLive, channel: "canary", detail };
      await publishEvent(env, EVOLUTION_TOPIC, "evolution.rolled_back", event);
      await publishEvent(env, DEPLOYMENT_TOPIC, "deployment.rolled_back", event);
      out.rolledBack.push(p.id);
    }
  }
  return out;
}

export const promotionView = (p: PromotionRow) => ({
  id: p.id,
  agentId: p.agentId,
  version: p.version,
  previousLive: p.previousLive,
  runId: p.runId,
  mode: p.mode,
  status: p.status,
  canaryWindow: p.canaryWindow,
  detail: p.detail,
  createdAt: iso(p.createdAt),
  decidedAt: iso(p.decidedAt),
});

/**
 * Measured evolution figures: the autonomy ratio is automatic promotions over all promotions
 * (to canary; null before the first), then promotions by outcome, rollbacks, gate blocks by
 * rule, approvals by status and runs by status.
 */
export async function evolutionStats(d: Db, agentId?: string) {
  const forAgent = (column: typeof promotions.agentId | typeof evolutionApprovals.agentId | typeof evolutionRuns.agentId | typeof evolutionCandidates.agentId) =>
    agentId ? eq(column, agentId) : undefined;
  const promotionRows = await d
    .select({ mode: promotions.mode, status: promotions.status, n: count() })
    .from(promotions)
    .where(forAgent(promotions.agentId))
    .groupBy(promotions.mode, promotions.status);
  const approvalRows = await d
    .select({ status: evolutionApprovals.status, n: count() })
    .from(evolutionApprovals)
    .where(forAgent(evolutionApprovals.agentId))
    .groupBy(evolutionApprovals.status);
  const runRows = await d.select({ status: evolutionRuns.status, n: count() }).from(evolutionRuns).where(forAgent(evolutionRuns.agentId)).groupBy(evolutionRuns.status);
  const gated = await d
    .select({ gate: evolutionCandidates.gate })
    .from(evolutionCandidates)
    .where(and(sql`${evolutionCandidates.gate} is not null`, forAgent(evolutionCandidates.agentId)));
  const evaluatedRows = await d
    .select({ status: evolutionCandidates.status, n: count() })
    .from(evolutionCandidates)
    .where(forAgent(evolutionCandidates.agentId))
    .groupBy(evolutionCandidates.status);
  const total = promotionRows.reduce((n, r) => n + r.n, 0);
  const auto = promotionRows.filter((r) => r.mode === "auto").reduce((n, r) => n + r.n, 0);
  const sumBy = (rows: { status: string; n: number }[]) => {
    const sums: Record<string, number> = {};
    for (const r of rows) sums[r.status] = (sums[r.status] ?? 0) + r.n;
    return sums;
  };
  const blocksByRule: Record<string, number> = {};
  let blocked = 0;
  for (const { gate } of gated) {
    if (gate?.decision !== "blocked") continue;
    blocked++;
    for (const c of gate.checks) if (!c.ok) blocksByRule[c.rule] = (blocksByRule[c.rule] ?? 0) + 1;
  }
  return {
    autonomyRatio: total ? auto / total : null,
    promotions: { total, automatic: auto, approved: total - auto, byStatus: sumBy(promotionRows) },
    rollbacks: promotionRows.filter((r) => r.status === "rolled_back").reduce((n, r) => n + r.n, 0),
    blocks: { total: blocked, byRule: blocksByRule },
    gated: gated.length,
    approvals: sumBy(approvalRows),
    runs: sumBy(runRows),
    candidates: sumBy(evaluatedRows),
  };
}
