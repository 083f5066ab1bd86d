import { eq } from "drizzle-orm";
import { AppError, type FieldError } from "../errors";
import { suiteForAgent } from "../evaluation/suite-store";
import type { AgentRow } from "../registry/schema";
import { agentChannels, getVersion, type Db } from "../registry/store";
import { isRangeGene, plannedEvaluations, type EvolutionPolicy } from "./policy";
import { evolutionPolicies } from "./schema";

export interface PolicyView extends EvolutionPolicy {
  agentId: string;
  suiteId: string;
  /** Case runs one run may need at most, against the budget. */
  plannedEvaluations: number;
  updatedAt: string;
  updatedBy: string;
}

/** The version a run starts from: live, else the latest. */
export async function baseVersion(db: Db, agent: AgentRow) {
  const channels = await agentChannels(db, agent.id);
  return getVersion(db, agent, channels.live ?? agent.latestVersion);
}

/**
 * Sets an agent's evolution policy. Genes must name top-level keys of the live version's params,
 * with numbers for ranges; the suite must score this agent; the run must fit its own budget.
 */
export async function setPolicy(db: Db, agent: AgentRow, policy: EvolutionPolicy, actor: string): Promise<PolicyView> {
  const suite = await suiteForAgent(db, agent.id, policy.suite);
  const base = await baseVersion(db, agent);
  const errors: FieldError[] = [];
  for (const [key, gene] of Object.entries(policy.genes)) {
    if (!(key in base.spec.params)) errors.push({ path: `genes.${key}`, message: `is not a top-level key of ${agent.name}@${base.version}'s params` });
    else if (isRangeGene(gene) && typeof base.spec.params[key] !== "number") errors.push({ path: `genes.${key}`, message: "is a range but the param is not a number" });
  }
  if (policy.rewrites === "code" && base.spec.kind !== "code") errors.push({ path: "rewrites", message: "code rewrites need a code agent" });
  if ((policy.rewrites === "prompt" || policy.rewrites === "system") && base.spec.kind !== "llm")
    errors.push({ path: "rewrites", message: `${policy.rewrites} rewrites need an llm agent` });
  if (errors.length) throw new AppError("validation_failed", "The evolution policy does not fit this agent.", { errors });
  const planned = plannedEvaluations(policy, suite.caseCount);
  if (planned > policy.budget.maxEvaluations) {
    throw new AppError(
      "budget_exceeded",
      `A run needs up to ${planned} case runs (population × generations × (cases + screening minibatches)) but the budget allows ${policy.budget.maxEvaluations}.`,
      {
        errors: [{ path: "budget.maxEvaluations", message: `must be at least ${planned}` }],
      },
    );
  }
  const now = Date.now();
  const stored = { ...policy, suite: suite.id };
  await db
    .insert(evolutionPolicies)
    .values({ agentId: agent.id, suiteId: suite.id, policy: stored, enabled: policy.enabled, updatedAt: now, updatedBy: actor })
    .onConflictDoUpdate({ target: evolutionPolicies.agentId, set: { suiteId: suite.id, policy: stored, enabled: policy.enabled, updatedAt: now, updatedBy: actor } });
  return { ...stored, agentId: agent.id, suiteId: suite.id, plannedEvaluations: planned, updatedAt: new Date(now).toISOString(), updatedBy: actor };
}

export async function getPolicy(db: Db, agentId: string) {
  const [row] = await db.select().from(evolutionPolicies).where(eq(evolutionPolicies.agentId, agentId)).limit(1);
  return row;
}

export async function requirePolicy(db: Db, agent: AgentRow) {
  const row = await getPolicy(db, agent.id);
  if (!row) throw new AppError("not_evolvable", `${agent.name} has no evolution policy; set one with PUT /api/v1/agents/${agent.id}/evolution.`);
  return row;
}

export async function policyView(db: Db, agent: AgentRow): Promise<PolicyView> {
  const row = await requirePolicy(db, agent);
  const suite = await suiteForAgent(db, agent.id, row.suiteId);
  return {
    ...row.policy,
    agentId: agent.id,
    suiteId: row.suiteId,
    plannedEvaluations: plannedEvaluations(row.policy, suite.caseCount),
    updatedAt: new Date(row.updatedAt).toISOString(),
    updatedBy: row.updatedBy,
  };
}
