import type { Env } from "../env";

/**
 * Cloudflare lets at most 4 distinct Dynamic Workers have requests in flight per Worker request and
 * 10 per Durable Object (its Dynamic Workers limits page); local workerd does not enforce either.
 * Vars DYNAMIC_WORKERS_PER_REQUEST and DYNAMIC_WORKERS_PER_OBJECT set them (tests lower them).
 */
export const perRequestCap = (env: Env) => positive(env.DYNAMIC_WORKERS_PER_REQUEST, 4);
export const perObjectCap = (env: Env) => positive(env.DYNAMIC_WORKERS_PER_OBJECT, 10);

function positive(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/**
 * Admits requests so that at most `cap` distinct sandboxes have requests in flight. A request for a
 * sandbox already in flight shares its slot; the rest wait in arrival order (strict FIFO, so a busy
 * sandbox cannot starve one that waits). Waiting counts against the caller's own timeout.
 */
export class SandboxSlots {
  private readonly inFlight = new Map<string, number>();
  private readonly waiting: { sandbox: string; admit: () => void }[] = [];
  /** Most distinct sandboxes ever in flight at once here: what tests check the cap against. */
  peak = 0;

  constructor(readonly cap: number) {}

  async run<T>(sandbox: string, work: () => Promise<T>): Promise<T> {
    await this.enter(sandbox);
    try {
      return await work();
    } finally {
      this.leave(sandbox);
    }
  }

  get distinctInFlight(): number {
    return this.inFlight.size;
  }

  private fits(sandbox: string): boolean {
    return this.inFlight.has(sandbox) || this.inFlight.size < this.cap;
  }

  private take(sandbox: string): void {
    this.inFlight.set(sandbox, (this.inFlight.get(sandbox) ?? 0) + 1);
    this.peak = Math.max(this.peak, this.inFlight.size);
  }

  private enter(sandbox: string): Promise<void> {
    if (this.waiting.length === 0 && this.fits(sandbox)) {
      this.take(sandbox);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ sandbox, admit: resolve }));
  }

  private leave(sandbox: string): void {
    const left = (this.inFlight.get(sandbox) ?? 1) - 1;
    if (left > 0) this.inFlight.set(sandbox, left);
    else this.inFlight.delete(sandbox);
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.sandbox)) {
      const next = this.waiting.shift()!;
      this.take(next.sandbox);
      next.admit();
    }
  }
}

/** Anonymous Dynamic Workers (`load`, `get(null)`) are each their own sandbox. */
let anonymous = 0;

/** Every method call on an entrypoint is a request to its Dynamic Worker: each goes through the slots. */
function gatedEntrypoint<T extends object>(entrypoint: T, sandbox: string, slots: SandboxSlots): T {
  return new Proxy(entrypoint, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== "function" || typeof prop === "symbol" || prop === "then") return value;
      // Called as a method of the stub: an RPC stub answers every property, `apply` included, with a remote call.
      const stub = target as unknown as Record<string, (...args: unknown[]) => unknown>;
      return (...args: unknown[]) => slots.run(sandbox, async () => stub[prop]!(...args));
    },
  });
}

function gatedStub(stub: WorkerStub, sandbox: string, slots: SandboxSlots): WorkerStub {
  return {
    getEntrypoint: (name, options) => gatedEntrypoint(stub.getEntrypoint(name, options), sandbox, slots),
    // Durable Object classes of a Dynamic Worker are not requests in themselves; their callers count.
    getDurableObjectClass: (name, options) => stub.getDurableObjectClass(name, options),
  };
}

/** The env with a LOADER whose Dynamic Workers admit requests through `slots` (keyed by the isolate name). */
export function capDynamicWorkers(env: Env, slots: SandboxSlots): Env {
  const loader = env.LOADER;
  const capped: WorkerLoader = {
    get: (name, getCode) => gatedStub(loader.get(name, getCode), name ?? `anonymous:${++anonymous}`, slots),
    load: (code) => gatedStub(loader.load(code), `anonymous:${++anonymous}`, slots),
  };
  return { ...env, LOADER: capped };
}
