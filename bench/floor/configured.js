// The floor with the system's configuration: wrangler.toml's bindings, queues, workflows and [assets]
// (lib.mjs startConfiguredFloor swaps only `main`), answering a constant. Locally, [assets] puts wrangler's
// asset router in front of every request, /api/* included; the bare floor shows the platform without it.
import { DurableObject, WorkerEntrypoint, WorkflowEntrypoint } from "cloudflare:workers";

class Idle extends DurableObject {}
class IdleWorkflow extends WorkflowEntrypoint {
  async run() {}
}
export class EgressGate extends WorkerEntrypoint {
  fetch() {
    return new Response(null, { status: 404 });
  }
}
export {
  Idle as Squad,
  Idle as RateLimiter,
  Idle as TopicStream,
  Idle as MetricsAggregator,
  Idle as EventHub,
  Idle as RunBuffer,
  Idle as ReceiptShard,
  IdleWorkflow as EvolutionRun,
  IdleWorkflow as AwsDeployment,
};

export default {
  fetch() {
    return new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
  },
  queue() {},
  scheduled() {},
};
