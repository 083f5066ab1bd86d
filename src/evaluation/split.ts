/**
 * Train / held-out split, stable per suite: a case is held out when the FNV-1a hash of its id is
 * divisible by 3 (about one case in three). The split depends only on the case id, so adding or
 * removing other cases never moves a case across, and every run of a suite sees the same split.
 * Evolution selects children on training cases only; the safety gate judges them on held-out
 * cases they were never selected on. A suite whose hash puts every case on one side holds out
 * the case with the lowest hash (and trains on the rest).
 */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export interface Split {
  train: Set<string>;
  heldOut: Set<string>;
}

export function splitCases(caseIds: readonly string[]): Split {
  const heldOut = new Set(caseIds.filter((id) => fnv1a(id) % 3 === 0));
  if (caseIds.length >= 2 && (heldOut.size === 0 || heldOut.size === caseIds.length)) {
    const lowest = [...caseIds].sort((a, b) => fnv1a(a) - fnv1a(b) || (a < b ? -1 : 1))[0]!;
    heldOut.clear();
    heldOut.add(lowest);
  }
  return { heldOut, train: new Set(caseIds.filter((id) => !heldOut.has(id))) };
}
