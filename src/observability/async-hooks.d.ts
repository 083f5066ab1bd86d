// Workers implement node:async_hooks' AsyncLocalStorage (nodejs_compat); @types/node is not loaded for Worker code.
declare module "node:async_hooks" {
  export class AsyncLocalStorage<T> {
    run<R>(store: T, fn: () => R): R;
    getStore(): T | undefined;
  }
}
