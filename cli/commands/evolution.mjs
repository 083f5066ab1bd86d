// Evolution: policies, runs (followed generation by generation), approvals, canary reviews, measured stats.
import { EXIT } from "../lib/errors.mjs";
import { poll, withInterrupt } from "../lib/follow.mjs";
import { readJsonFile } from "../lib/input.mjs";
import { percent, renderFields, renderTable, shortTime } from "../lib/output.mjs";
import { morePages, PAGE_OPTIONS, pageQuery } from "../lib/paging.mjs";

const RUN_DONE = new Set(["completed", "failed"]);

const generationColumns = /** @type {import("../lib/output.mjs").Column[]} */ ([
  { header: "gen", get: (g) => g.generation, align: "right" },
  { header: "best", get: (g) => percent(g.best), align: "right" },
  { header: "median", get: (g) => percent(g.median), align: "right" },
  { header: "worst", get: (g) => percent(g.worst), align: "right" },
  { header: "evaluated", get: (g) => g.evaluated, align: "right" },
  { header: "survivors", get: (g) => g.survivors.length, align: "right" },
]);

/** One generation as a table row without the header (for printing rows as they arrive). */
export const generationRow = (/** @type {any} */ g, /** @type {any[]} */ all) => /** @type {string} */ (renderTable(all, generationColumns).split("\n")[all.indexOf(g) + 1]);

/** How a run ended, in one line: outcome fields when the engine reports them, else the status. */
export function outcomeText(/** @type {any} */ run) {
  if (run.status === "failed") return `failed: ${run.error ?? "no reason given"}`;
  const o = run.outcome ?? {};
  const parts = Object.entries(o)
    .filter(([, v]) => v !== null && typeof v !== "object")
    .map(([k, v]) => `${k} ${v}`);
  return `${run.status}${parts.length ? `: ${parts.join(", ")}` : ""}`;
}

function runText(/** @type {any} */ r, /** @type {(s: string) => string} */ status) {
  return [
    renderFields([
      ["run", r.id],
      ["agent", r.agentId],
      ["status", status(r.status)],
      ["trigger", `${r.trigger} (${r.slot})`],
      ["base", r.baseVersion],
      ["generation", `${r.generation} of ${r.generations}`],
      ["budget", `${r.budget.evaluationsUsed}/${r.budget.maxEvaluations} evaluations, ${r.budget.tokensUsed}/${r.budget.maxTokens} tokens`],
      ["outcome", outcomeText(r)],
    ]),
    r.generationStats.length ? renderTable(r.generationStats, generationColumns) : "",
    r.candidates.length
      ? renderTable(r.candidates, [
          { header: "candidate", get: (c) => c.id },
          { header: "gen", get: (c) => c.generation, align: "right" },
          { header: "operator", get: (c) => c.operator },
          { header: "train", get: (c) => percent(c.trainScore), align: "right" },
          { header: "held-out", get: (c) => percent(c.heldOutScore), align: "right" },
          { header: "bytes", get: (c) => c.sizeBytes, align: "right" },
          { header: "kept", get: (c) => (c.kept === null ? "" : c.kept ? "yes" : "no") },
          { header: "version", get: (c) => c.version },
          { header: "reason", get: (c) => c.reason },
        ])
      : "",
  ]
    .filter(Boolean)
    .join("\n\n");
}

/** @type {import("../lib/args.mjs").Command[]} */
export const evolutionCommands = [
  {
    name: "evolve policy set",
    args: "<agent> <policy.json>",
    summary: "Set an agent's evolution policy (genes, population, rates, gate thresholds, budget)",
    options: { suite: { type: "string", value: "SUITE", description: "the suite that scores candidates (overrides the file's)" } },
    examples: ["tdev evolve policy set sentiment examples/sentiment/policy.json --suite sentiment-suite"],
    async run({ client, out, name }, { values, positionals }) {
      const policy = await readJsonFile(positionals["policy.json"], name);
      if (values.suite) policy.suite = values.suite;
      const p = await client.put(`/agents/${encodeURIComponent(positionals.agent)}/evolution`, policy);
      out.result(
        p,
        () =>
          `policy set: population ${p.population}, ${p.generationsPerRun} generations per run, ${Object.keys(p.genes).length} genes, ~${p.plannedEvaluations} evaluations per run`,
      );
    },
  },
  {
    name: "evolve policy get",
    args: "<agent>",
    summary: "An agent's evolution policy",
    async run({ client, out }, { positionals }) {
      const p = await client.get(`/agents/${encodeURIComponent(positionals.agent)}/evolution`);
      out.result(p, () => JSON.stringify(p, null, 2));
    },
  },
  {
    name: "evolve start",
    args: "<agent>",
    summary: "Start an evolution run; --follow prints each generation as it finishes",
    options: { follow: { type: "boolean", short: "f", description: "follow the run; exit 5 if it fails, 130 on Ctrl-C (the run goes on)" } },
    examples: ["tdev evolve start sentiment --follow"],
    async run({ client, out }, { values, positionals }) {
      const { runId } = await client.post("/evolution/runs", { agent: positionals.agent });
      if (!values.follow) return out.result({ runId }, () => runId);
      out.note(`evolution run ${runId} started`);
      let shown = 0;
      const run = await withInterrupt(`evolution run ${runId}`, (signal) =>
        poll({
          signal,
          intervalMs: 2000,
          load: async () => (await client.request("GET", `/evolution/runs/${runId}`, { signal })).data,
          onState: (r) => {
            const stats = r.generationStats;
            if (!out.json && shown === 0 && stats.length) out.text(/** @type {string} */ (renderTable(stats, generationColumns).split("\n")[0]));
            for (; shown < stats.length; shown++) out.event(stats[shown], () => generationRow(stats[shown], stats));
            out.progress(`${r.status}: generation ${r.generation} of ${r.generations}, ${r.budget.evaluationsUsed} evaluations`);
          },
          done: (r) => RUN_DONE.has(r.status),
        }),
      );
      if (out.json) out.event(run, () => "");
      else out.text(outcomeText(run));
      return run.status === "failed" ? EXIT.failed : EXIT.ok;
    },
  },
  {
    name: "evolve runs",
    summary: "Evolution runs, newest first",
    options: {
      agent: { type: "string", value: "AGENT", description: "only this agent's runs" },
      status: { type: "string", value: "STATUS", description: "queued, running, completed or failed" },
      ...PAGE_OPTIONS,
    },
    async run({ client, out, name }, { values }) {
      const page = await client.get("/evolution/runs", { agent: values.agent, status: values.status, ...pageQuery(values, name) });
      out.table(
        page.items,
        [
          { header: "run", get: (r) => r.id },
          { header: "agent", get: (r) => r.agentId },
          { header: "status", get: (r) => r.status, color: (t) => out.colors.status(t) },
          { header: "trigger", get: (r) => r.trigger },
          { header: "gen", get: (r) => `${r.generation}/${r.generations}`, align: "right" },
          { header: "base", get: (r) => r.baseVersion },
          { header: "created", get: (r) => shortTime(r.createdAt) },
        ],
        page,
      );
      morePages(out, page);
    },
  },
  {
    name: "evolve show",
    args: "<run-id>",
    summary: "A run: status, best/median/worst per generation, candidates and why each was kept or dropped",
    async run({ client, out }, { positionals }) {
      const r = await client.get(`/evolution/runs/${encodeURIComponent(positionals["run-id"])}`);
      out.result(r, () => runText(r, out.colors.status));
    },
  },
  {
    name: "approvals ls",
    summary: "Evolved versions waiting for (or decided by) a person",
    options: {
      status: { type: "string", value: "STATUS", description: "pending, approved or rejected" },
      agent: { type: "string", value: "AGENT", description: "only this agent's" },
      ...PAGE_OPTIONS,
    },
    async run({ client, out, name }, { values }) {
      const page = await client.get("/evolution/approvals", { status: values.status, agent: values.agent, ...pageQuery(values, name) });
      out.table(
        page.items,
        [
          { header: "id", get: (a) => a.id },
          { header: "agent", get: (a) => a.agentId },
          { header: "version", get: (a) => a.version },
          { header: "status", get: (a) => a.status, color: (t) => out.colors.status(t) },
          { header: "reasons", get: (a) => a.reasons.join("; ") },
          { header: "created", get: (a) => shortTime(a.createdAt) },
        ],
        page,
      );
      morePages(out, page);
    },
  },
  ...["approve", "reject"].map(
    (verb) =>
      /** @type {import("../lib/args.mjs").Command} */ ({
        name: `approvals ${verb}`,
        args: "<approval-id>",
        summary: verb === "approve" ? "Approve: the version goes to canary" : "Reject: the version is not deployed",
        options: { note: { type: "string", value: "TEXT", description: "recorded with the decision" } },
        async run({ client, out }, { values, positionals }) {
          const a = await client.post(`/evolution/approvals/${encodeURIComponent(positionals["approval-id"])}/${verb}`, values.note ? { note: values.note } : {});
          out.result(a, () => `${a.id}: ${a.status} (${a.version})`);
        },
      }),
  ),
  {
    name: "canaries review",
    summary: "Judge open canaries on their live results now (the cron does this every tick)",
    async run({ client, out }) {
      const r = await client.post("/evolution/canaries/review", undefined);
      out.result(r, () =>
        renderFields([
          ["promoted", r.promoted.join(", ") || "none"],
          ["rolled back", r.rolledBack.join(", ") || "none"],
          ["waiting", r.waiting.join(", ") || "none"],
        ]),
      );
    },
  },
  {
    name: "stats",
    summary: "Measured autonomy ratio, promotions, rollbacks and gate blocks by rule",
    options: { agent: { type: "string", value: "AGENT", description: "only this agent" } },
    async run({ client, out }, { values }) {
      const s = await client.get("/evolution/stats", { agent: values.agent });
      const counts = (/** @type {Record<string, number>} */ o) =>
        Object.entries(o)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ") || "none";
      out.result(s, () =>
        renderFields([
          ["autonomy", s.autonomyRatio === null ? "no promotions yet" : `${percent(s.autonomyRatio)} of promotions automatic`],
          ["promotions", `${s.promotions.total} (${s.promotions.automatic} automatic, ${s.promotions.approved} approved)`],
          ["rollbacks", s.rollbacks],
          ["gate blocks", `${s.blocks.total}${s.blocks.total ? ` (${counts(s.blocks.byRule)})` : ""}`],
          ["runs", counts(s.runs)],
          ["approvals", counts(s.approvals)],
        ]),
      );
    },
  },
];
