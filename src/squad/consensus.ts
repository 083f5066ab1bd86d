import { canonicalJson } from "../registry/canonical";

/** Aggregates the answers of n distinct members. Pure. */
export type ConsensusStrategy = "majority" | "unanimous" | "first";

export interface MemberAnswer {
  member: string;
  ok: boolean;
  output?: unknown;
  error?: { code: string; detail: string };
  durationMs: number;
  /** Order in which answers arrived (0 = first); `first` picks the earliest success. */
  arrival: number;
}

export type Verdict =
  | { decided: true; output: unknown; agreement: number; agreeing: string[] }
  | { decided: false; agreement: number; reason: "disagreement" | "too_few_answers"; detail: string };

/** Groups successful answers by canonical JSON, largest group first (ties: earliest arrival). */
function groups(answers: readonly MemberAnswer[]) {
  const byKey = new Map<string, MemberAnswer[]>();
  for (const a of [...answers].filter((a) => a.ok).sort((x, y) => x.arrival - y.arrival)) {
    const key = canonicalJson(a.output);
    byKey.set(key, [...(byKey.get(key) ?? []), a]);
  }
  return [...byKey.values()].sort((x, y) => y.length - x.length || x[0]!.arrival - y[0]!.arrival);
}

/** `agreement` is the share of the n asked members whose answer equals the chosen one. */
export function aggregate(strategy: ConsensusStrategy, n: number, answers: readonly MemberAnswer[]): Verdict {
  const grouped = groups(answers);
  const succeeded = answers.filter((a) => a.ok).length;
  if (succeeded === 0) return { decided: false, agreement: 0, reason: "too_few_answers", detail: "No member answered successfully." };
  if (strategy === "first") {
    const first = [...answers].filter((a) => a.ok).sort((x, y) => x.arrival - y.arrival)[0]!;
    const group = grouped.find((g) => g.includes(first))!;
    return { decided: true, output: first.output, agreement: group.length / n, agreeing: group.map((a) => a.member) };
  }
  const top = grouped[0]!;
  const agreement = top.length / n;
  const verdict = { decided: true as const, output: top[0]!.output, agreement, agreeing: top.map((a) => a.member) };
  if (strategy === "majority") {
    if (top.length * 2 > n) return verdict;
    // Could the members that failed have formed a majority? Then more answers might decide it.
    const reason = (top.length + (n - succeeded)) * 2 > n ? "too_few_answers" : "disagreement";
    return { decided: false, agreement, reason, detail: `No strict majority: the largest agreeing group has ${top.length} of ${n} members.` };
  }
  if (top.length === n) return verdict;
  const reason = grouped.length > 1 ? "disagreement" : "too_few_answers";
  return { decided: false, agreement, reason, detail: `Not unanimous: ${top.length} of ${n} members agree.` };
}
