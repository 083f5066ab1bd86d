import { and, eq, inArray, or } from "drizzle-orm";
import semver from "semver";
import { promoteToCanary, requestApproval } from "../deploy/promote";
import type { Env } from "../env";
import { saveEvaluation } from "../evaluation/store";
import type { CaseResult } from "../evaluation/score";
import { splitCases } from "../evaluation/split";
import { publishEvent } from "../messaging/events";
import { agentSpecSchema, type AgentSpec } from "../registry/spec";
import { publishVersion } from "../registry/publish";
import { findAgent, findVersion, registryDb, type Db } from "../registry/store";
import { safetyGate, type GateCase } from "./gate";
import { EVOLUTION_TOPIC, getRun, loadSuite } from "./run";
import { evolutionCandidates, evolutionRuns, type CandidateCase, type CandidateRow, type RunOutcome } from "./schema";
import { byFitness } from "./selection";

/** How many of the fittest distinct children the gate looks at before the run gives up. */
const GATE_TRIES = 3;

const asResults = (cases: CandidateCase[]): CaseResult[] =>
  cases.map(({ error, ...c }) => ({ ...c, checks: [], ...(error ? { error: { code: c.status === "failed" ? "agent_failed" : "check_failed", detail: error } } : {}) }));

/** Versions this candidate descends from: its nearest published ancestors (seeds name theirs). */
async function ancestorVersions(d: Db, candidate: CandidateRow): Promise<string[]> {
  const found = new Set<string>();
  let frontier = [candidate];
  const seen = new Set<string>([candidate.id]);
  for (let depth = 0; frontier.length && depth < 64; depth++) {
    const next: string[] = [];
    for (const c of frontier) {
      const own = c === candidate ? null : (c.version ?? c.sourceVersion);
      if (own) found.add(own);
      else
        for (const p of [...c.parents, ...(c.reusedFrom ? [c.reusedFrom] : [])]) {
          if (seen.has(p)) continue;
          seen.add(p);
          next.push(p);
        }
    }
    frontier = next.length ? await d.select().from(evolutionCandidates).where(inArray(evolutionCandidates.id, next)) : [];
  }
  return [...found].sort();
}

/**
 * Ends a run: the fittest children by training score that beat live's training score go through
 * the safety gate in turn, judged on held-out cases against live. The first that passes is
 * published (next patch version, with lineage) and moved to canary; one that only widens
 * permissions is published and waits for approval; blocked ones keep their reasons. Runs as the
 * Workflow's last step: an error propagates so the platform retries the step (publishing and
 * promotion are idempotent), and the run is marked failed only when the retries run out.
 */
export async function finishRun(env: Env, runId: string): Promise<void> {
  const d = registryDb(env.DB);
  const claimed = await d
    .update(evolutionRuns)
    .set({ status: "finishing", updatedAt: Date.now() })
    .where(and(eq(evolutionRuns.id, runId), or(eq(evolutionRuns.status, "running"), eq(evolutionRuns.status, "finishing"))))
    .returning({ id: evolutionRuns.id });
  if (claimed.length === 0) return;
  const run = await getRun(d, runId);
  const outcome = await gateAndPromote(env, d, run.id);
  const done = await d
    .update(evolutionRuns)
    .set({ status: "completed", outcome, finishedAt: Date.now(), updatedAt: Date.now() })
    .where(and(eq(evolutionRuns.id, runId), eq(evolutionRuns.status, "finishing")))
    .returning({ id: evolutionRuns.id });
  if (done.length) await publishEvent(env, EVOLUTION_TOPIC, "evolution.run.completed", { runId, agentId: run.agentId, ...outcome });
}

async function gateAndPromote(env: Env, d: Db, runId: string): Promise<RunOutcome> {
  const run = await getRun(d, runId);
  const agent = await findAgent(d, run.agentId, { includeRetired: true });
  const suite = await loadSuite(d, run);
  const all = await d
    .select()
    .from(evolutionCandidates)
    .where(and(eq(evolutionCandidates.runId, runId), eq(evolutionCandidates.status, "evaluated")));
  const live = all.find((c) => c.generation === 0 && c.operator === "seed" && c.sourceVersion === run.baseVersion);
  if (!live?.cases) return { decision: "no-improvement", detail: `live ${run.baseVersion} could not be evaluated, so no child can be judged against it` };
  const liveSpec = agentSpecSchema.parse(JSON.parse(live.spec));
  const liveVersion = await findVersion(d, agent.id, run.baseVersion);
  if (liveVersion && !live.reusedFrom) {
    // The live version was scored afresh: its score joins the version's history.
    await saveEvaluation(d, {
      agentId: agent.id,
      version: run.baseVersion,
      versionId: liveVersion.id,
      suite,
      summary: summaryOf(live, suite.cases.length),
      cases: asResults(live.cases),
      source: "evolution",
      actor: `evolution:${runId}`,
    });
  }
  const split = splitCases(suite.cases.map((c) => c.id));
  const gateCases: GateCase[] = suite.cases.map((c) => ({ id: c.id, weight: c.weight, guard: c.guard, heldOut: split.heldOut.has(c.id) }));
  const genomes = new Set([live.genomeHash]);
  const contenders = all
    // Published genomes (seeds from versions, re-tried children of earlier runs) are not new children.
    .filter((c) => !(c.operator === "seed" && c.sourceVersion) && !(c.reusedFrom && c.version) && (c.trainScore ?? 0) > (live.trainScore ?? 0))
    // Ties go by content hash, never by ids: the same seed and data promote the same genome.
    .map((c) => ({ id: c.genomeHash, score: c.trainScore ?? 0, sizeBytes: c.sizeBytes, cost: c.cost ?? 0, row: c }))
    .sort(byFitness)
    .filter((c) => {
      if (genomes.has(c.row.genomeHash)) return false;
      genomes.add(c.row.genomeHash);
      return true;
    })
    .slice(0, GATE_TRIES);
  if (contenders.length === 0) return { decision: "no-improvement", detail: `no child beat live's training score ${(live.trainScore ?? 0).toFixed(3)}` };
  const blocked: string[] = [];
  for (const { row } of contenders) {
    const spec = agentSpecSchema.parse(JSON.parse(row.spec));
    const verdict = safetyGate({ child: { spec, cases: row.cases ?? [] }, live: { spec: liveSpec, cases: live.cases }, cases: gateCases, policy: run.policy });
    await d.update(evolutionCandidates).set({ gate: verdict }).where(eq(evolutionCandidates.id, row.id));
    if (verdict.decision === "blocked") {
      blocked.push(row.id);
      await d
        .update(evolutionCandidates)
        .set({ reason: `blocked by the gate: ${verdict.reasons.join("; ")}` })
        .where(eq(evolutionCandidates.id, row.id));
      await publishEvent(env, EVOLUTION_TOPIC, "evolution.candidate.blocked", { runId, agentId: agent.id, candidateId: row.id, reasons: verdict.reasons });
      continue;
    }
    const version = await publishChild(d, runId, row, spec, suite);
    if (verdict.decision === "pass") {
      await promoteToCanary(env, { agentId: agent.id, version, runId, candidateId: row.id, mode: "auto", actor: `evolution:${runId}`, window: run.policy.canary.window });
      return {
        champion: row.id,
        promoted: version,
        decision: "pass",
        detail: `${version} passed the gate (${verdict.checks.find((c) => c.rule === "improvement")!.detail}) and is on canary`,
      };
    }
    const approval = await requestApproval(env, { agentId: agent.id, runId, candidateId: row.id, version, reasons: verdict.reasons });
    return { champion: row.id, approval, decision: "approval", detail: `${version} widens permissions and waits for approval ${approval}` };
  }
  return { champion: contenders[0]!.row.id, decision: "blocked", detail: `the gate blocked ${blocked.join(", ")}` };
}

function summaryOf(c: CandidateRow, total: number) {
  const cases = c.cases ?? [];
  return {
    score: c.score ?? 0,
    trainScore: c.trainScore ?? 0,
    heldOutScore: c.heldOutScore ?? 0,
    counted: cases.filter((x) => !x.uncertain).length,
    uncertain: cases.filter((x) => x.uncertain).length,
    passed: cases.filter((x) => x.passed).length,
    total,
    tokens: cases.reduce((n, x) => n + x.tokens, 0),
  };
}

/**
 * Publishes a gated child as the agent's next patch version with its lineage. The version is
 * written on the candidate first, so a resumed finish publishes the same version (idempotent)
 * rather than another one.
 */
async function publishChild(d: Db, runId: string, row: CandidateRow, spec: AgentSpec, suite: Awaited<ReturnType<typeof loadSuite>>): Promise<string> {
  const agent = await findAgent(d, row.agentId, { includeRetired: true });
  let version = row.version;
  if (!version) {
    version = semver.inc(agent.latestVersion, "patch")!;
    await d.update(evolutionCandidates).set({ version }).where(eq(evolutionCandidates.id, row.id));
  }
  const parents = await ancestorVersions(d, row);
  const published = await publishVersion(d, agent, { ...spec, version }, `evolution:${runId}`, { parents, operator: row.operator });
  await saveEvaluation(d, {
    agentId: agent.id,
    version,
    versionId: published.version.id,
    suite,
    summary: summaryOf(row, suite.cases.length),
    cases: asResults(row.cases ?? []),
    source: "evolution",
    actor: `evolution:${runId}`,
  });
  return version;
}
