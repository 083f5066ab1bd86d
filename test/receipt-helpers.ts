import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { CLAIM_LEASE_MS, RECEIPT_SHARDS, receiptByKey, type ReceiptStore } from "../src/messaging/receipts";

/**
 * The real receipt shards, watched: every call the consumer makes (method, shard name, arguments) is recorded,
 * and calls of `failing` methods throw for the first `failures` times. Nothing is stood in for.
 */
export function watchedReceipts(store: ReceiptStore = env.RECEIPTS, failing: string[] = [], failures = 0) {
  const calls: { method: string; shard: string; args: unknown[] }[] = [];
  const failed: string[] = [];
  const watched = new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop !== "getByName") return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      return (name: string) => {
        const stub = target.getByName(name);
        return new Proxy(stub, {
          get(s, method) {
            if (typeof method !== "string" || !["claim", "settle", "ofMessages", "ofKey", "prune"].includes(method)) return Reflect.get(s, method);
            return (...args: unknown[]) => {
              calls.push({ method, shard: name, args });
              if (failing.includes(method) && failed.length < failures) {
                failed.push(`${method} ${name}`);
                return Promise.reject(new Error(`injected receipt store failure (${method})`));
              }
              return (s as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args);
            };
          },
        });
      };
    },
  });
  return { store: watched as ReceiptStore, calls, failed };
}

/** The receipt under a dedup key, as stored (null when there is none). */
export async function receiptRow(dedupKey: string) {
  return (await receiptByKey(env.RECEIPTS, dedupKey)) ?? null;
}

/** Runs SQL inside each of the first `shards` receipt shards (test access to their storage). */
export async function inEveryShard(shards: number, query: string, ...bindings: SqlStorageValue[]): Promise<Record<string, SqlStorageValue>[]> {
  const rows = await Promise.all(
    Array.from({ length: shards }, (_, i) =>
      runInDurableObject(env.RECEIPTS.getByName(`receipts:${i}`), (_instance, state) => state.storage.sql.exec(query, ...bindings).toArray()),
    ),
  );
  return rows.flat();
}

/** Lets every live claim's lease lapse, as if CLAIM_LEASE_MS had passed (for redelivery tests). */
export const expireClaims = () => inEveryShard(RECEIPT_SHARDS, "UPDATE receipts SET claimed_at = claimed_at - ? WHERE status = 'claimed'", CLAIM_LEASE_MS);
