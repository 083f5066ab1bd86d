/**
 * The real local D1 database, wrapped so chosen writes fail: a statement or batch whose SQL matches `when`
 * throws instead of running, `times` times, like a D1 outage between two steps. Reads and other writes go
 * through untouched. Not a stand-in: every statement that is not failed runs against the real binding.
 */
export function failingD1(db: D1Database, when: RegExp, times = 1): { db: D1Database; failed: string[] } {
  const failed: string[] = [];
  const real = new WeakMap<object, D1PreparedStatement>();
  const sqlOf = new WeakMap<object, string>();

  const check = (queries: string[]) => {
    const hit = queries.find((q) => when.test(q));
    if (hit === undefined || failed.length >= times) return;
    failed.push(hit);
    throw new Error(`D1_ERROR: injected failure writing: ${hit}`);
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

  const wrapped = new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (query: string) => wrap(target.prepare(query), query);
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          check(statements.map((s) => sqlOf.get(s) ?? ""));
          return target.batch(statements.map((s) => real.get(s) ?? s));
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db: wrapped, failed };
}
