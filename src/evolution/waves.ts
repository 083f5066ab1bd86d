/**
 * Cloudflare caps the distinct Dynamic Workers with requests in flight (4 per Worker request, 10
 * per Durable Object). Evaluations go in waves: each wave holds at most `parallel` candidates and
 * at most `distinct` different sandboxes; candidates without a sandbox (llm agents) count against
 * `parallel` only. Pure, and in input order, so a replayed Workflow plans the same waves.
 */
export function evaluationWaves(items: readonly { id: string; sandbox: string | null }[], caps: { distinct: number; parallel: number }): string[][] {
  const waves: { ids: string[]; sandboxes: Set<string> }[] = [];
  for (const item of items) {
    const fits = (w: (typeof waves)[number]) => w.ids.length < caps.parallel && (item.sandbox === null || w.sandboxes.has(item.sandbox) || w.sandboxes.size < caps.distinct);
    let wave = waves.find(fits);
    if (!wave) {
      wave = { ids: [], sandboxes: new Set() };
      waves.push(wave);
    }
    wave.ids.push(item.id);
    if (item.sandbox !== null) wave.sandboxes.add(item.sandbox);
  }
  return waves.map((w) => w.ids);
}
