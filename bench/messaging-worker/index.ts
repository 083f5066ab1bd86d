// Benchmark worker for bench/messaging.mjs. Runs inside workerd (wrangler dev):
//   POST /floor?n=[&high=1]   raw queue floor: send n tiny messages, a consumer that only acks counts them
//                    (high=1: on a queue with the high band's batch settings)
//   POST /e2e?n=&priority=[&claimed=1]   the real path: sendMessages (seal) -> band queue -> handleQueue (open,
//                    effect, outcome in the receipt shards); the effect is the real topic fan-out (subscribers read
//                    through the per-isolate cache), which takes no claim. claimed=1: deliveries to a subscription
//                    (cached as absent, so the effect is as small), which claim before the effect and settle after
//   POST /crypto?n=&bytes=   n seal+open round trips of a payload of `bytes`; timed from outside against n=0
import type { Env } from "../../src/env";
import { handleQueue } from "../../src/messaging/consumer";
import { asInvocation } from "../../src/invocation";
import { deliver, type Deliver } from "../../src/messaging/deliver";
import { keyRing, open, seal } from "../../src/messaging/envelope";
import { type MessageDraft, sendMessages } from "../../src/messaging/producer";

export { ReceiptShard } from "../../src/messaging/receipts";

type BenchEnv = Env & { FLOOR: Queue<{ run: string }>; FLOOR_HIGH: Queue<{ run: string }> };

const counts = new Map<string, number>();
const bump = (run: string) => counts.set(run, (counts.get(run) ?? 0) + 1);

async function until(run: string, n: number, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while ((counts.get(run) ?? 0) < n) {
    if (Date.now() > deadline) throw new Error(`run ${run}: ${counts.get(run) ?? 0}/${n} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const counting: Deliver = async (env, d) => {
  const result = await deliver(env, d);
  const payload = d.sealed.payload as { data?: { run?: string }; event?: { data?: { run?: string } } };
  const run = payload.data?.run ?? payload.event?.data?.run;
  if (result.ok && run) bump(run);
  return result;
};

export default {
  async fetch(request: Request, env: BenchEnv): Promise<Response> {
    const url = new URL(request.url);
    const n = Number(url.searchParams.get("n") ?? "0");
    const run = crypto.randomUUID();
    const started = Date.now();
    if (url.pathname === "/floor") {
      const queue = url.searchParams.get("high") ? env.FLOOR_HIGH : env.FLOOR;
      for (let i = 0; i < n; i += 100) {
        await queue.sendBatch(Array.from({ length: Math.min(100, n - i) }, () => ({ body: { run } })));
      }
      await until(run, n);
      return Response.json({ n, ms: Date.now() - started });
    }
    if (url.pathname === "/e2e") {
      const priority = Number(url.searchParams.get("priority") ?? "5");
      const claimed = url.searchParams.has("claimed");
      for (let i = 0; i < n; i += 100) {
        const drafts: MessageDraft[] = Array.from({ length: Math.min(100, n - i) }, (_, k) => {
          const event = { type: "bench.tick", data: { run, i: i + k } };
          return claimed
            ? { to: { subscription: "sub_bench_absent" }, priority, actor: "bench", payload: { topic: "bench", event: { id: `evt_${i + k}`, ...event, time: "" } } }
            : { to: { topic: "bench" }, priority, actor: "bench", payload: event };
        });
        await sendMessages(env, drafts);
      }
      await until(run, n);
      return Response.json({ n, ms: Date.now() - started });
    }
    if (url.pathname === "/crypto") {
      const bytes = Number(url.searchParams.get("bytes") ?? "256");
      const ring = await keyRing(env.MESSAGE_KEYS);
      const payload = { blob: "x".repeat(bytes) };
      for (let i = 0; i < n; i++) {
        const envelope = await seal(
          ring,
          { v: 1, id: "msg_0190000000001234567890abcdef", kind: "event", priority: 5, to: "topic:bench", createdAt: 1 },
          { actor: "bench", payload },
        );
        const opened = await open(ring, envelope);
        if (!opened.ok) throw new Error(`round trip failed: ${opened.reason}`);
      }
      return Response.json({ n, bytes });
    }
    return new Response("not found", { status: 404 });
  },

  async queue(batch: MessageBatch<unknown>, env: BenchEnv, ctx: ExecutionContext) {
    if (batch.queue === "bench-floor" || batch.queue === "bench-floor-high") {
      for (const m of batch.messages) bump((m.body as { run: string }).run);
      batch.ackAll();
      return;
    }
    // As src/index.ts's queue handler does.
    await asInvocation(() => handleQueue(batch, env, ctx, counting));
  },
} satisfies ExportedHandler<BenchEnv>;
