/**
 * The registry's change counter: migration 0012's triggers bump it in the same transaction as every
 * change to agents, agent versions and channels, so every writer (API, promotion, rollback, restore)
 * bumps it without remembering to. Isolates compare it to decide whether cached resolutions still hold.
 */
export interface RegistryGeneration {
  generation: number;
  /** The D1 bookmark of the read: later reads from this bookmark see at least this generation's state. */
  bookmark: string | null;
}

/** One tiny primary read (a replica could lag behind the bound isolates promise). */
export async function readGeneration(d1: D1Database): Promise<RegistryGeneration> {
  const session = d1.withSession("first-primary");
  const row = await session.prepare("SELECT generation FROM registry_generation WHERE id = 1").first<{ generation: number }>();
  return { generation: row?.generation ?? 0, bookmark: session.getBookmark() };
}
