/**
 * The real local D1 database, wrapped so chosen writes fail, like a D1 outage between two steps. Reads and
 * the writes not chosen go through untouched: not a stand-in, every statement that is not failed runs
 * against the real binding (also through sessions made with withSession).
 */

/** Decides, for one round trip (a statement, or a batch's statements), whether it throws instead of running. */
type Fault = (queries: string[]) => boolean;

function faultyD1(db: D1Database, fault: Fault): D1Database {
  const real = new WeakMap<object, D1PreparedStatement>();
  const sqlOf = new WeakMap<object, string>();

  const check = (queries: string[]) => {
    if (fault(queries)) throw new Error(`D1_ERROR: injected failure writing: ${queries.join("; ")}`);
  };

  const wrap = (statement: D1PreparedStatement, query: string): D1PreparedStatement => {
    const proxy = new Proxy(statement, {
      get(target, prop) {
        if (prop === "bind") return (...values: unknown[]) => wrap(target.bind(...values), query);
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== "function") return value;
        if (prop === "run" || prop === "all" || prop === "first" || prop === "raw") {
          return async (...args: unknown[]) => {
            check([query]);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return (value as (...a: unknown[]) => unknown).bind(target);
      },
    });
    real.set(proxy, statement);
    sqlOf.set(proxy, query);
    return proxy;
  };

  const database = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, prop) {
        const value = Reflect.get(t, prop, t) as unknown;
        if (typeof value !== "function") return value;
        const fn = value as (...a: unknown[]) => unknown;
        if (prop === "prepare") return (query: string) => wrap(fn.call(t, query) as D1PreparedStatement, query);
        if (prop === "withSession") return (...a: unknown[]) => database(fn.apply(t, a) as object);
        if (prop === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            check(statements.map((s) => sqlOf.get(s) ?? ""));
            return fn.call(
              t,
              statements.map((s) => real.get(s) ?? s),
            );
          };
        }
        return fn.bind(t);
      },
    });
  return database(db);
}

/** A statement or batch whose SQL matches `when` throws instead of running, `times` times. */
export function failingD1(db: D1Database, when: RegExp, times = 1): { db: D1Database; failed: string[] } {
  const failed: string[] = [];
  const fault = (queries: string[]) => {
    const hit = queries.find((q) => when.test(q));
    if (hit === undefined || failed.length >= times) return false;
    failed.push(hit);
    return true;
  };
  return { db: faultyD1(db, fault), failed };
}

const WRITE = /^\s*(insert|update|delete|replace)\b/i;

/**
 * Counts write round trips (a statement that writes, or a batch holding one) and fails the `n`th; with
 * n = 0 nothing fails and `writes` lists every write round trip's statements, to learn how many a route makes.
 */
export function nthWriteFails(db: D1Database, n: number): { db: D1Database; writes: string[][]; failed: string[][] } {
  const writes: string[][] = [];
  const failed: string[][] = [];
  const fault = (queries: string[]) => {
    if (!queries.some((q) => WRITE.test(q))) return false;
    writes.push(queries);
    if (writes.length !== n) return false;
    failed.push(queries);
    return true;
  };
  return { db: faultyD1(db, fault), writes, failed };
}
