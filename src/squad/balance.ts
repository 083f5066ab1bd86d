/** Load balancing across a squad's members: least in flight relative to weight. Pure. */
export interface MemberLoad {
  key: string;
  weight: number;
  inFlight: number;
  /** Executions started on this member since the squad object started; spreads sequential work by weight. */
  dispatched: number;
}

function lighter(a: MemberLoad, b: MemberLoad): boolean {
  const la = a.inFlight / a.weight;
  const lb = b.inFlight / b.weight;
  if (la !== lb) return la < lb;
  const da = a.dispatched / a.weight;
  const db = b.dispatched / b.weight;
  if (da !== db) return da < db;
  return a.weight > b.weight;
}

/** The least-loaded candidate not in `exclude`; ties keep member order. */
export function pickMember(candidates: readonly MemberLoad[], exclude: ReadonlySet<string> = new Set()): MemberLoad | undefined {
  return candidates.reduce<MemberLoad | undefined>((best, m) => (exclude.has(m.key) ? best : !best || lighter(m, best) ? m : best), undefined);
}

/** `n` distinct members for a consensus round, each chosen as if the previous ones were already busy. */
export function pickMembers(candidates: readonly MemberLoad[], n: number, exclude: ReadonlySet<string> = new Set()): MemberLoad[] {
  const taken = new Set(exclude);
  const picked: MemberLoad[] = [];
  while (picked.length < n) {
    const m = pickMember(candidates, taken);
    if (!m) break;
    picked.push(m);
    taken.add(m.key);
  }
  return picked;
}
