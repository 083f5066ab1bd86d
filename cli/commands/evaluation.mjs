// Evaluation suites, scoring a version, and score history.
import { EXIT, UsageError } from "../lib/errors.mjs";
import { poll, withInterrupt } from "../lib/follow.mjs";
import { readJsonFile } from "../lib/input.mjs";
import { millis, percent, renderFields, renderTable, shortTime } from "../lib/output.mjs";
import { morePages, PAGE_OPTIONS, pageQuery } from "../lib/paging.mjs";

/** Score, split and counts of one evaluation. */
export function evaluationText(/** @type {any} */ e, /** @type {(s: string) => string} */ status = (s) => s) {
  const fields = renderFields([
    ["evaluation", e.id],
    ["version", e.version],
    ["status", status(e.status)],
    ["score", `${percent(e.score)} (train ${percent(e.trainScore)}, held-out ${percent(e.heldOutScore)})`],
    ["cases", `${e.passed}/${e.total} passed, ${e.uncertain} uncertain`],
    ["tokens", e.tokens || undefined],
    ["error", e.error ?? undefined],
  ]);
  const failed = (e.cases ?? []).filter((/** @type {any} */ c) => !c.passed);
  if (!failed.length) return fields;
  return `${fields}\nnot passed:\n${renderTable(failed.slice(0, 20), [
    { header: "case", get: (c) => c.caseId },
    { header: "score", get: (c) => c.score, align: "right" },
    { header: "duration", get: (c) => millis(c.durationMs), align: "right" },
    { header: "why", get: (c) => (c.error ? `${c.error.code}: ${c.error.detail}` : c.uncertain ? "uncertain" : c.output) },
  ])}${failed.length > 20 ? `\n… and ${failed.length - 20} more (--json for all)` : ""}`;
}

/** @type {import("../lib/args.mjs").Command[]} */
export const evaluationCommands = [
  {
    name: "suites push",
    args: "<suite.json>",
    summary: "Create an evaluation suite from a JSON file (suites are immutable: same content → unchanged)",
    options: { agent: { type: "string", value: "AGENT", description: 'the agent it scores (overrides the file\'s "agent")' } },
    examples: ["tdev suites push examples/sentiment/suite.json --agent sentiment"],
    async run({ client, out, name }, { values, positionals }) {
      const suite = await readJsonFile(positionals["suite.json"], name);
      if (values.agent) suite.agent = values.agent;
      if (!suite.agent) throw new UsageError('The suite names no agent: add "agent" to the file or pass --agent.', name);
      const reply = await client.request("POST", "/suites", { body: suite });
      const s = reply.data;
      out.result(
        s,
        () =>
          `${reply.status === 201 ? "created" : "unchanged"} suite ${s.name}: ${s.caseCount} cases, ${s.heldOutCases.length} held out, guards ${s.guardCases.join(", ") || "none"}`,
      );
    },
  },
  {
    name: "suites ls",
    summary: "Evaluation suites, newest first",
    options: { agent: { type: "string", value: "AGENT", description: "only this agent's suites" }, ...PAGE_OPTIONS },
    async run({ client, out, name }, { values }) {
      const page = await client.get("/suites", { agent: values.agent, ...pageQuery(values, name) });
      out.table(
        page.items,
        [
          { header: "name", get: (s) => s.name },
          { header: "id", get: (s) => s.id },
          { header: "cases", get: (s) => s.caseCount, align: "right" },
          { header: "held out", get: (s) => s.heldOutCases.length, align: "right" },
          { header: "created", get: (s) => shortTime(s.createdAt) },
        ],
        page,
      );
      morePages(out, page);
    },
  },
  {
    name: "suites get",
    args: "<suite>",
    summary: "A suite with its cases",
    async run({ client, out }, { positionals }) {
      const s = await client.get(`/suites/${encodeURIComponent(positionals.suite)}`);
      out.result(
        s,
        () =>
          `${renderFields([
            ["name", s.name],
            ["id", s.id],
            ["agent", s.agentId],
            ["cases", s.caseCount],
            ["guards", s.guardCases.join(", ")],
            ["held out", s.heldOutCases.join(", ")],
          ])}`,
      );
    },
  },
  {
    name: "eval",
    args: "<agent> <version>",
    summary: "Score a version on a suite in the sandbox; the score becomes the version's",
    description: "Long suites (over 200 cases, or --async) run on the queue; tdev then polls until the evaluation ends (exit 5 if it fails).",
    options: {
      suite: { type: "string", value: "SUITE", description: "suite id or name (required)" },
      async: { type: "boolean", description: "run on the queue even for a short suite" },
    },
    examples: ["tdev eval sentiment 1.0.0 --suite sentiment-suite"],
    async run({ client, out, name }, { values, positionals }) {
      if (!values.suite) throw new UsageError("--suite is required.", name);
      const route = `/agents/${encodeURIComponent(positionals.agent)}/versions/${encodeURIComponent(positionals.version)}/evaluate`;
      const reply = await client.request("POST", route, { body: { suite: values.suite, ...(values.async ? { async: true } : {}) } });
      let e = reply.data;
      if (reply.status === 202) {
        out.note(`evaluation ${e.id} queued`);
        e = await withInterrupt(`evaluation ${e.id}`, (signal) =>
          poll({
            signal,
            intervalMs: 2000,
            load: async () => (await client.request("GET", `/evaluations/${e.id}`, { signal })).data,
            onState: (s) => out.progress(`evaluation ${s.id} ${s.status}`),
            done: (s) => s.status !== "running",
          }),
        );
      }
      out.result(e, () => evaluationText(e, out.colors.status));
      return e.status === "failed" ? EXIT.failed : EXIT.ok;
    },
  },
  {
    name: "eval show",
    args: "<evaluation-id>",
    summary: "A stored evaluation with its per-case results",
    async run({ client, out }, { positionals }) {
      const e = await client.get(`/evaluations/${encodeURIComponent(positionals["evaluation-id"])}`);
      out.result(e, () => evaluationText(e, out.colors.status));
    },
  },
  {
    name: "scores",
    args: "<agent>",
    summary: "Score history by version, newest first, regressions flagged",
    options: { ...PAGE_OPTIONS },
    async run({ client, out, name }, { values, positionals }) {
      const page = await client.get(`/agents/${encodeURIComponent(positionals.agent)}/scores`, pageQuery(values, name));
      out.table(
        page.items,
        [
          { header: "version", get: (s) => s.version },
          { header: "score", get: (s) => percent(s.score), align: "right" },
          { header: "held-out", get: (s) => percent(s.heldOutScore), align: "right" },
          { header: "parent", get: (s) => (s.parentVersion ? `${s.parentVersion} ${percent(s.parentScore)}` : "") },
          { header: "regression", get: (s) => (s.regression ? `yes (p=${s.pValue?.toFixed(3)})` : "") },
          { header: "at", get: (s) => shortTime(s.createdAt) },
        ],
        page,
      );
      morePages(out, page);
    },
  },
];
