/**
 * The real local D1 binding, counting round trips: each batch (with its statement count) and each
 * statement run alone, through the binding or any session made from it. Nothing is stood in for.
 */
export function countingD1(db: D1Database): { db: D1Database; trips: { batch?: number; single?: string }[] } {
  const trips: { batch?: number; single?: string }[] = [];
  const real = new WeakMap<object, D1PreparedStatement>();
  const statement = (s: D1PreparedStatement, query: string): D1PreparedStatement => {
    const proxy = new Proxy(s, {
      get(target, prop) {
        if (prop === "bind") return (...v: unknown[]) => statement(target.bind(...v), query);
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== "function") return value;
        if (["run", "all", "first", "raw"].includes(prop as string)) trips.push({ single: query });
        return (value as (...a: unknown[]) => unknown).bind(target);
      },
    });
    real.set(proxy, s);
    return proxy;
  };
  const database = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, prop) {
        const value = Reflect.get(t, prop, t) as unknown;
        if (typeof value !== "function") return value;
        const fn = value as (...a: unknown[]) => unknown;
        if (prop === "prepare") return (q: string) => statement(fn.call(t, q) as D1PreparedStatement, q);
        if (prop === "withSession") return (...a: unknown[]) => database(fn.apply(t, a) as object);
        if (prop === "batch")
          return (statements: D1PreparedStatement[]) => {
            trips.push({ batch: statements.length });
            return fn.call(
              t,
              statements.map((s) => real.get(s) ?? s),
            );
          };
        return fn.bind(t);
      },
    });
  return { db: database(db), trips };
}
