import { eq, inArray } from "drizzle-orm";
import { AppError } from "../errors";
import { canonicalJson } from "../registry/canonical";
import type { AgentSpec } from "../registry/spec";
import type { Db } from "../registry/store";
import { specOf } from "./candidates";
import { evolutionCandidates } from "./schema";

/** One field of a child's spec that differs from its parent's: `params.<gene>` per gene, other fields whole. */
export interface SpecChange {
  field: string;
  parent: unknown;
  child: unknown;
}

/** Fields every child has anew (its name and version are assigned at promotion), so they are not changes. */
const IGNORED = new Set(["name", "version"]);

/** What a child changed against its parent, params gene by gene. Pure. */
export function specChanges(parent: AgentSpec, child: AgentSpec): SpecChange[] {
  const p = parent as Record<string, unknown>;
  const c = child as Record<string, unknown>;
  const changes: SpecChange[] = [];
  const differ = (a: unknown, b: unknown) => canonicalJson(a ?? null) !== canonicalJson(b ?? null);
  for (const field of [...new Set([...Object.keys(p), ...Object.keys(c)])].sort()) {
    if (IGNORED.has(field)) continue;
    if (field === "params") {
      const pp = (p.params ?? {}) as Record<string, unknown>;
      const cp = (c.params ?? {}) as Record<string, unknown>;
      for (const gene of [...new Set([...Object.keys(pp), ...Object.keys(cp)])].sort()) {
        if (differ(pp[gene], cp[gene])) changes.push({ field: `params.${gene}`, parent: pp[gene] ?? null, child: cp[gene] ?? null });
      }
    } else if (differ(p[field], c[field])) {
      changes.push({ field, parent: p[field] ?? null, child: c[field] ?? null });
    }
  }
  return changes;
}

/** A candidate of a run with its spec, its first parent's spec (seeds have none) and what changed between them. */
export async function candidateDiff(d: Db, runId: string, candidateId: string) {
  const [row] = await d.select().from(evolutionCandidates).where(eq(evolutionCandidates.id, candidateId)).limit(1);
  if (!row || row.runId !== runId) throw new AppError("not_found", `No candidate ${candidateId} in evolution run ${runId}.`);
  const parents = row.parents.length ? await d.select().from(evolutionCandidates).where(inArray(evolutionCandidates.id, row.parents)) : [];
  // Compared with the first parent named (a merge has two; the view lists both).
  const parent = parents.find((p) => p.id === row.parents[0]) ?? null;
  const spec = specOf(row);
  return {
    id: row.id,
    operator: row.operator,
    parents: row.parents,
    sourceVersion: row.sourceVersion,
    spec,
    parent: parent ? { id: parent.id, spec: specOf(parent) } : null,
    changes: parent ? specChanges(specOf(parent), spec) : [],
  };
}
