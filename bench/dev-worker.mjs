// Runs one worker as `wrangler dev` does (wrangler's own dev server, local bindings, persisted state), in its
// own process so the bench can charge its CPU to it. Unlike the `wrangler dev` command, it can leave out the
// DevTools inspector: the inspector proxy forwards runtime events to wrangler's process, costing every request
// CPU that no deployment pays (and that the floor, a worker with no events, barely pays), so the figures run
// without it. bench/profile.mjs asks for it (it samples the worker through it).
// Usage: node bench/dev-worker.mjs '{"config":"wrangler.toml","port":8790,"persist":"/tmp/x","vars":{},"inspectorPort":9239}'
import { unstable_startWorker } from "wrangler";

const { config, port, persist, vars = {}, inspectorPort } = JSON.parse(process.argv[2]);
const worker = await unstable_startWorker({
  config,
  bindings: Object.fromEntries(Object.entries(vars).map(([name, value]) => [name, { type: "plain_text", value }])),
  dev: {
    server: { hostname: "127.0.0.1", port },
    inspector: inspectorPort ? { hostname: "127.0.0.1", port: inspectorPort } : false,
    persist,
    logLevel: "warn",
    watch: false,
  },
});
await worker.ready;
console.log(`ready on ${port}`);
const stop = async () => {
  await worker.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
