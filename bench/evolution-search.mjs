// Issue 9 figures: how many case runs each search strategy needs to reach 0.85 on the training
// cases of the example agent (examples/sentiment), random search vs the old operators vs the new
// adaptive search, median over seeds; and, with --synthetic, the same plus the live score after
// three gated runs on unseen keyword classifiers with random vocabularies.
// Pure in-memory simulation (src/evolution/simulate.ts): no system needed.
//   node bench/evolution-search.mjs [--synthetic] [--seeds N]
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { tsImport } from "tsx/esm/api";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const STRATEGIES = ["random", "classic", "adaptive"];
const load = async (f) => JSON.parse(await readFile(path.join(ROOT, "examples", "sentiment", f), "utf8"));

export async function modules() {
  const ts = (p) => tsImport(path.join(ROOT, p), import.meta.url);
  const [{ simulate }, { splitCases, fnv1a }, { default: classifier }] = await Promise.all([
    ts("src/evolution/simulate.ts"),
    ts("src/evaluation/split.ts"),
    import(path.join(ROOT, "examples", "sentiment", "agent.js")),
  ]);
  return { simulate, splitCases, fnv1a, classifier };
}

/** An agent for the simulator: cases, how to score params on them, genes and the start. */
export async function exampleAgent({ classifier, splitCases }) {
  const [suite, spec, policy] = await Promise.all([load("suite.json"), load("spec.json"), load("policy.json")]);
  const cases = suite.cases;
  const split = splitCases(cases.map((c) => c.id));
  const evaluate = async (params) => {
    const out = {};
    for (const c of cases) out[c.id] = (await classifier.run(c.input, { params })).label === c.checks[0].value ? 1 : 0;
    return out;
  };
  return {
    name: "examples/sentiment",
    evaluate,
    trainIds: [...split.train],
    heldOutIds: [...split.heldOut],
    guardIds: cases.filter((c) => c.guard).map((c) => c.id),
    genes: policy.genes,
    startParams: spec.params,
    minImprovement: policy.minImprovement,
  };
}

/**
 * An unseen keyword classifier, shaped like real reviews: `words` random words, about half
 * positive and half negative with hidden weights of varied strength, plus a negator. Each of the
 * 60 texts takes one to three words of its own side, sometimes one of the other side or the
 * negator, plus filler, and is labelled by the hidden weights (so the code can score 100%).
 * The genes are the code's weights and threshold; the start is all weights 0, the coin flip.
 */
export function syntheticAgent({ classifier, splitCases, fnv1a }, index, { words = 24, caseCount = 60 } = {}) {
  let state = fnv1a(`synthetic:${index}`);
  const rand = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const syllables = ["ka", "lo", "mi", "ru", "te", "za", "po", "ne", "vi", "su", "da", "fe"];
  const vocab = [];
  while (vocab.length < words) {
    const w = Array.from({ length: 2 + Math.floor(rand() * 2) }, () => pick(syllables)).join("");
    if (!vocab.includes(w)) vocab.push(w);
  }
  const [negator, ...rest] = vocab;
  const positive = rest.filter((_, i) => i % 2 === 0);
  const negative = rest.filter((_, i) => i % 2 === 1);
  const truth = { [negator]: -1.5 };
  for (const w of positive) truth[w] = 0.5 + rand() * 2;
  for (const w of negative) truth[w] = -(0.5 + rand() * 2);
  const threshold = (rand() - 0.5) * 0.6;
  const fillers = ["the", "and", "it", "was", "very", "this", "for", "with", "i", "a"];
  const cases = [];
  for (let i = 0; cases.length < caseCount && i < caseCount * 50; i++) {
    const side = cases.length % 2 === 0 ? positive : negative;
    const picked = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(side));
    if (rand() < 0.2) picked.push(pick(side === positive ? negative : positive));
    if (rand() < 0.15) picked.push(negator);
    const score = picked.reduce((s, w) => s + truth[w], 0);
    if (Math.abs(score - threshold) < 0.25) continue;
    const label = score > threshold ? "positive" : "negative";
    // Balanced labels, so the coin-flip start scores about 50%.
    if (cases.filter((c) => c.label === label).length >= caseCount / 2) continue;
    const text = [...picked, ...Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(fillers))].sort(() => rand() - 0.5).join(" ");
    cases.push({ id: `s${index}-${String(cases.length).padStart(2, "0")}`, text, label });
  }
  const split = splitCases(cases.map((c) => c.id));
  const genes = Object.fromEntries([...vocab.map((w) => [`w_${w}`, { min: -3, max: 3, step: 0.5 }]), ["threshold", { min: -2, max: 2, step: 0.5 }]]);
  const startParams = Object.fromEntries([...vocab.map((w) => [`w_${w}`, 0]), ["threshold", 0.5]]);
  return {
    name: `synthetic #${index}`,
    evaluate: async (params) => {
      const out = {};
      for (const c of cases) out[c.id] = (await classifier.run({ text: c.text }, { params })).label === c.label ? 1 : 0;
      return out;
    },
    trainIds: [...split.train],
    heldOutIds: [...split.heldOut],
    genes,
    startParams,
    minImprovement: 0.05,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const fmtReach = (xs) => {
  const hit = xs.filter((x) => x !== null);
  const med = hit.length * 2 > xs.length ? median(xs.map((x) => x ?? Infinity)) : null;
  return `${med === null ? "not reached" : Math.round(med)} (${hit.length}/${xs.length} reached)`;
};

/** One agent, every strategy, `seeds` seeds: pop 16 × 5 generations × 3 gated runs. */
async function compare(simulate, agent, seeds, settings = {}) {
  const rows = {};
  for (const strategy of STRATEGIES) {
    const reports = [];
    for (let s = 1; s <= seeds; s++) {
      reports.push(await simulate({ ...agent, population: 16, generations: 5, runs: 3, seed: s, strategy, ...settings }));
    }
    rows[strategy] = reports;
  }
  return rows;
}

function table(title, rows) {
  console.log(`\n## ${title}`);
  console.log(
    "| search | case runs to 0.85 train (median) | candidates to 0.85 | best train after run 1 (median) | live after 3 runs (median, all cases) | runs live ≥ 0.9 | case runs in 3 runs |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const [strategy, reports] of Object.entries(rows)) {
    const after1 = median(reports.map((r) => r.runs[0].bestTrainByGeneration.at(-1)));
    const live = reports.map((r) => r.finalLive.all);
    console.log(
      `| ${strategy} | ${fmtReach(reports.map((r) => r.caseRunsToTarget))} | ${fmtReach(reports.map((r) => r.candidatesToTarget))} | ${after1.toFixed(3)} | ${median(live).toFixed(3)} | ${live.filter((x) => x >= 0.9).length}/${live.length} | ${Math.round(median(reports.map((r) => r.caseRuns)))} |`,
    );
  }
}

export default async function evolutionSearchBench({ seeds = 7, synthetic = false } = {}) {
  const mods = await modules();
  const example = await exampleAgent(mods);
  table(`Evolution search on ${example.name} (pop 16 × 5 generations × 3 runs, ${seeds} seeds)`, await compare(mods.simulate, example, seeds));
  if (synthetic) {
    for (let i = 1; i <= 6; i++) {
      const agent = syntheticAgent(mods, i);
      table(
        `Evolution search on ${agent.name} (24 words + threshold, ${agent.trainIds.length}/${agent.heldOutIds.length} train/held-out, ${seeds} seeds)`,
        await compare(mods.simulate, agent, seeds),
      );
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const seedsAt = args.indexOf("--seeds");
  await evolutionSearchBench({ synthetic: args.includes("--synthetic"), seeds: seedsAt >= 0 ? Number(args[seedsAt + 1]) : 7 });
}
