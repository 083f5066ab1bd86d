// The floor with the system's configuration: wrangler.toml's bindings, queues, workflows and [assets]
// (lib.mjs startConfiguredFloor swaps only `main`), answering a constant. Locally, [assets] puts wrangler's
// asset router in front of every request, /api/* included; the bare floor shows the platform without it.
// The system's classes (its Durable Objects, Workflows, entrypoints) come from its own module, so the
// configuration always finds what it names; only the default export, the fetch handler, is the floor's.
export * from "../../src/index";

export default {
  fetch() {
    return new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
  },
};
