/**
 * Which D1 tables a backup holds, in restore order (parents before children, for foreign keys).
 * Tables not named here are included after these, alphabetically, so a new table is never
 * silently left out; only SQLite's and D1's own bookkeeping and the short-lived tables below are.
 */
export const FIRST = ["agents", "agent_versions", "channels", "deployments", "dependency_edges", "api_keys"];

/**
 * Not durable state: the registry and subscription generations are change counters their triggers rebuild
 * as restored rows go in (migrations/0012, 0014). Message receipts, pruned replay guards, live in Durable
 * Objects (src/messaging/receipts.ts), not in D1.
 */
const TRANSIENT = new Set(["registry_generation", "subscription_generation"]);

const isInternal = (name: string) => name.startsWith("sqlite_") || name.startsWith("_cf_") || name === "d1_migrations";

/** The tables to back up, in restore order. Pure. */
export function backupTables(allTables: readonly string[]): string[] {
  const present = new Set(allTables.filter((t) => !isInternal(t) && !TRANSIENT.has(t)));
  const first = FIRST.filter((t) => present.has(t));
  const rest = [...present].filter((t) => !FIRST.includes(t)).sort();
  return [...first, ...rest];
}

/** SQLite identifiers come from sqlite_master, never from the request; still, quote them. */
export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
