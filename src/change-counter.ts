import { extendInvocation } from "./invocation";

/**
 * A change counter in D1 that triggers bump in the same transaction as every change to some tables
 * (the registry's, the subscriptions'), so no writer can forget it. Isolates cache reads of those tables
 * under the generation they were read at, and this isolate's copy of the counter says whether they hold.
 *
 * The copy is re-read from the primary in the background once it is REFRESH_AFTER_MS old, and nothing
 * uses a copy older than STALE_AFTER_MS: so a change anywhere takes effect in every isolate within 1 s,
 * and a busy isolate pays no D1 read for it on a request's path (an isolate idle for over a second pays
 * one tiny read). Writes made through this isolate (noteLocalWrite) take effect in it at once.
 */
export const STALE_AFTER_MS = 1_000;
export const REFRESH_AFTER_MS = 500;

export interface Generation {
  generation: number;
  /** The D1 bookmark of the read: later reads from this bookmark see at least this generation's state. */
  bookmark: string | null;
}

interface Checked extends Generation {
  /** When the read began: the copy reflects every change committed before then. */
  readAt: number;
  /** This isolate's local writes when the read began. */
  localAt: number;
}

/** Whether a copy read at `readAt` may serve a request at `now`. Pure. */
export function freshness(checked: Pick<Checked, "readAt" | "localAt"> | undefined, now: number, local: number): "fresh" | "refresh" | "stale" {
  if (!checked || checked.localAt !== local || now - checked.readAt >= STALE_AFTER_MS) return "stale";
  return now - checked.readAt >= REFRESH_AFTER_MS ? "refresh" : "fresh";
}

export class ChangeCounter {
  #checked: Checked | undefined;
  /** A background refresh is running (a flag, not a shared promise: a request must never await I/O another request started, which hangs once that request ends). */
  #refreshing = false;
  #localWrites = 0;

  /** `query` selects one row with a `generation` column. */
  constructor(private readonly query: string) {}

  /** Writes begun or finished through this isolate so far: a copy read before one is stale here. */
  localWrites(): number {
    return this.#localWrites;
  }

  /** Called around every write through this isolate to the tables the counter counts. */
  noteLocalWrite(): void {
    this.#localWrites++;
  }

  /** One tiny primary read (a replica could lag behind the bound isolates promise). */
  async read(d1: D1Database): Promise<Generation> {
    const session = d1.withSession("first-primary");
    const row = await session.prepare(this.query).first<{ generation: number }>();
    return { generation: row?.generation ?? 0, bookmark: session.getBookmark() };
  }

  /** The generation this isolate may rely on now: its copy when fresh enough, else one primary read. */
  async current(d1: D1Database): Promise<Generation> {
    const checked = this.#checked;
    const state = freshness(checked, Date.now(), this.#localWrites);
    if (state === "fresh") return checked!;
    if (state === "refresh") {
      this.#refreshBehind(d1);
      return checked!;
    }
    return this.#readNow(d1);
  }

  async #readNow(d1: D1Database): Promise<Checked> {
    const readAt = Date.now();
    const localAt = this.#localWrites;
    const next = { ...(await this.read(d1)), readAt, localAt };
    // A slower read that began earlier must not replace a newer copy.
    if (!this.#checked || readAt >= this.#checked.readAt) this.#checked = next;
    return next;
  }

  #refreshBehind(d1: D1Database): void {
    if (this.#refreshing) return;
    this.#refreshing = true;
    const refresh = this.#readNow(d1)
      .catch(() => undefined) // the copy in hand is still within the bound; the next request tries again
      .finally(() => {
        this.#refreshing = false;
      });
    extendInvocation(refresh);
  }
}
