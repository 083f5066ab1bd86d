// Issue 5 figures: messages/s end to end (produce -> consume -> effect) against the raw local queue
// floor in the same run, and the AES-GCM envelope cost per message, all measured inside workerd.
// Called by bench/run.mjs; runs alone with `node bench/messaging.mjs`.
import { median, startWorker } from "./lib.mjs";

const PORT = 8793;

async function post(url) {
  const started = performance.now();
  const res = await fetch(url, { method: "POST" });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  await res.json();
  return performance.now() - started;
}

/**
 * Each case's median of `rounds`, the cases run in turns (all once, then all again) so the floors and the
 * bands see the same machine: on a shared host the speed drifts within minutes.
 */
async function throughputs(urls, n, rounds = 5) {
  const times = Object.fromEntries(Object.keys(urls).map((name) => [name, []]));
  for (let i = 0; i < rounds; i++) for (const [name, url] of Object.entries(urls)) times[name].push(await post(`${url}&n=${n}`));
  return Object.fromEntries(
    Object.entries(times).map(([name, all]) => {
      const ms = median(all);
      return [name, { n, ms, perSecond: (n / ms) * 1000, rounds: all }];
    }),
  );
}

/** A case against a floor: the median of the rounds' ratios, each round's case beside the same round's floor (as againstFloor does for HTTP). */
const ratioOf = (r, floor) => median(r.rounds.map((ms, i) => floor.rounds[i] / ms));

/** Per-message cost of n seal+open round trips, net of a request doing none. */
async function cryptoCost(base, bytes, n) {
  const empty = [];
  const full = [];
  for (let i = 0; i < 5; i++) {
    empty.push(await post(`${base}/crypto?n=0&bytes=${bytes}`));
    full.push(await post(`${base}/crypto?n=${n}&bytes=${bytes}`));
  }
  return { bytes, n, usPerRoundTrip: ((median(full) - median(empty)) / n) * 1000 };
}

export default async function messagingBench() {
  const worker = await startWorker({ config: "bench/messaging-worker/wrangler.toml", port: PORT, migrate: true });
  try {
    const base = worker.url;
    // Warm the isolate, the queues and D1.
    await post(`${base}/floor?n=200`);
    await post(`${base}/e2e?n=200&priority=5`);

    const N = 6000;
    const { floor, floorHigh, normal, claimed, high, low } = await throughputs(
      {
        floor: `${base}/floor?x=1`,
        floorHigh: `${base}/floor?high=1`,
        normal: `${base}/e2e?priority=5`,
        claimed: `${base}/e2e?priority=5&claimed=1`,
        high: `${base}/e2e?priority=8`,
        low: `${base}/e2e?priority=1`,
      },
      N,
      7,
    );
    const small = await cryptoCost(base, 256, 5000);
    const large = await cryptoCost(base, 16384, 2000);

    console.log(
      "\n## Messaging (inside workerd via wrangler dev, local Queues, receipt Durable Objects and D1; 7 rounds, the cases in turns; messages/s the median round, ratios the median of each round's case against the same round's floor)",
    );
    console.log("| path | messages | ms | messages/s | vs raw queue floor | vs raw queue, same batch settings |");
    console.log("|---|---:|---:|---:|---:|---:|");
    const pct = (r, f) => `${(ratioOf(r, f) * 100).toFixed(0)}%`;
    const row = (name, r, same) => console.log(`| ${name} | ${r.n} | ${r.ms.toFixed(0)} | ${r.perSecond.toFixed(0)} | ${pct(r, floor)} | ${same ? pct(r, same) : "—"} |`);
    row("floor: raw queue, consumer only acks (batch 50, timeout 1 s)", floor, floor);
    row("floor: raw queue with the high band's settings (batch 50, timeout 0)", floorHigh, floorHigh);
    row("end to end, normal band (seal, queue, open, topic fan-out effect, record outcome; batch 50)", normal, floor);
    row("end to end, normal band, deliveries that claim (seal, queue, open, claim, effect, settle; batch 50)", claimed, floor);
    row("end to end, high band (batch 50, timeout 0: no wait)", high, floorHigh);
    row("end to end, low band (batch 100, timeout 5 s)", low);
    console.log("\n| envelope | payload bytes | round trips | µs per seal+open |");
    console.log("|---|---:|---:|---:|");
    for (const c of [small, large]) console.log(`| AES-256-GCM seal + open (WebCrypto) | ${c.bytes} | ${c.n} | ${c.usPerRoundTrip.toFixed(1)} |`);
    const goal = (name, r, f, target) => {
      const ratio = ratioOf(r, f);
      console.log(`Goal (issue 13): ${name} >= ${target * 100}% of the raw queue -> ${(ratio * 100).toFixed(0)}%: ${ratio >= target ? "met" : "NOT met"}`);
    };
    console.log("");
    goal("normal band end to end", normal, floor, 0.4);
    goal("high band end to end", high, floor, 0.2);
    console.log(
      `\nSeed claims: 10,000 messages/s -> measured ${normal.perSecond.toFixed(0)} (normal band, one local consumer); ` +
        `< 1 ms encryption -> measured ${(small.usPerRoundTrip / 1000).toFixed(3)} ms per seal+open of 256 B.`,
    );
  } finally {
    worker.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await messagingBench();
  process.exit(0);
}
