import { waitUntil } from "cloudflare:workers";

/**
 * The registry's change counter: migration 0012's triggers bump it in the same transaction as every
 * change to agents, agent versions and channels, so every writer (API, promotion, rollback, restore)
 * bumps it without remembering to. Isolates compare it to decide whether cached reads still hold.
 *
 * This isolate's copy is re-read from the primary in the background once it is REFRESH_AFTER_MS old,
 * and nothing uses a copy older than STALE_AFTER_MS: so a change anywhere takes effect in every isolate
 * within 1 s, and a busy isolate pays no D1 read for it on a request's path (an isolate idle for over a
 * second pays one tiny read). Writes made through this isolate take effect in it at once.
 */
export interface RegistryGeneration {
  generation: number;
  /** The D1 bookmark of the read: later reads from this bookmark see at least this generation's state. */
  bookmark: string | null;
}

export const STALE_AFTER_MS = 1_000;
export const REFRESH_AFTER_MS = 500;

/** One tiny primary read (a replica could lag behind the bound isolates promise). */
export async function readGeneration(d1: D1Database): Promise<RegistryGeneration> {
  const session = d1.withSession("first-primary");
  const row = await session.prepare("SELECT generation FROM registry_generation WHERE id = 1").first<{ generation: number }>();
  return { generation: row?.generation ?? 0, bookmark: session.getBookmark() };
}

let localWriteCount = 0;

/** Registry writes begun or finished through this isolate so far: a copy read before one is stale here. */
export const localWrites = () => localWriteCount;

/** Called around every registry write made through this isolate (see read-cache.ts `writing`). */
export function noteLocalWrite(): void {
  localWriteCount++;
}

interface Checked extends RegistryGeneration {
  /** When the read began: the copy reflects every change committed before then. */
  readAt: number;
  /** This isolate's registry writes when the read began. */
  localAt: number;
}

/** Whether a generation read at `readAt` may serve a request at `now`. Pure. */
export function freshness(checked: Pick<Checked, "readAt" | "localAt"> | undefined, now: number, local: number): "fresh" | "refresh" | "stale" {
  if (!checked || checked.localAt !== local || now - checked.readAt >= STALE_AFTER_MS) return "stale";
  return now - checked.readAt >= REFRESH_AFTER_MS ? "refresh" : "fresh";
}

let checked: Checked | undefined;
/** A background refresh is running (a flag, not a shared promise: a request must never await I/O another request started, which hangs once that request ends). */
let refreshing = false;

async function readNow(d1: D1Database): Promise<Checked> {
  const readAt = Date.now();
  const localAt = localWrites();
  const next = { ...(await readGeneration(d1)), readAt, localAt };
  // A slower read that began earlier must not replace a newer copy.
  if (!checked || readAt >= checked.readAt) checked = next;
  return next;
}

function refreshBehind(d1: D1Database): void {
  if (refreshing) return;
  refreshing = true;
  const refresh = readNow(d1)
    .catch(() => undefined) // the copy in hand is still within the bound; the next request tries again
    .finally(() => {
      refreshing = false;
    });
  try {
    waitUntil(refresh);
  } catch {
    // Outside a request there is nothing to extend.
  }
}

/** The registry generation this isolate may rely on now: its copy when fresh enough, else one primary read. */
export async function currentGeneration(d1: D1Database): Promise<RegistryGeneration> {
  const state = freshness(checked, Date.now(), localWrites());
  if (state === "fresh") return checked!;
  if (state === "refresh") {
    refreshBehind(d1);
    return checked!;
  }
  return readNow(d1);
}
