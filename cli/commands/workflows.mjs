// Workflows: store and validate definitions (JSON or YAML), run them through a squad and follow the step table.
import { readFile } from "node:fs/promises";
import { intOption } from "../lib/args.mjs";
import { EXIT, UsageError } from "../lib/errors.mjs";
import { poll, withInterrupt } from "../lib/follow.mjs";
import { INPUT_OPTIONS, readInput } from "../lib/input.mjs";
import { millis, renderFields, renderTable, shortTime } from "../lib/output.mjs";
import { morePages, PAGE_OPTIONS, pageQuery } from "../lib/paging.mjs";
import { resolveSquad } from "../lib/squad-ref.mjs";

/** A definition file as the API takes it: YAML as application/yaml, anything else as JSON. */
export async function definitionBody(/** @type {string} */ file, /** @type {string} */ command) {
  let raw;
  try {
    raw = await readFile(file, "utf8");
  } catch {
    throw new UsageError(`Cannot read ${file}.`, command);
  }
  return { raw, contentType: /\.ya?ml$/i.test(file) ? "application/yaml" : "application/json" };
}

/** The levels of a plan, one line each: "1. a", "2. b, c". */
export const planText = (/** @type {string[][]} */ levels) => levels.map((steps, i) => `  ${i + 1}. ${steps.join(", ")}`).join("\n");

/** The step table of a run, in plan order. */
export function stepTable(/** @type {any} */ run, /** @type {(s: string) => string} */ status = (s) => s) {
  const head = `${run.workflow} v${run.version}  ${run.runId}  ${status(run.status)}${run.durationMs !== null ? `  ${millis(run.durationMs)}` : ""}`;
  const table = renderTable(run.steps, [
    { header: "level", get: (s) => (s.level === null ? "" : s.level + 1), align: "right" },
    { header: "step", get: (s) => s.id },
    { header: "status", get: (s) => s.status, color: (t) => status(t) },
    { header: "member", get: (s) => s.member },
    { header: "attempts", get: (s) => s.attempts, align: "right" },
    { header: "duration", get: (s) => millis(s.durationMs), align: "right" },
    { header: "note", get: (s) => (s.error ? `${s.error.code}: ${s.error.detail}` : s.reason) },
  ]);
  return `${head}\n${table}${run.error ? `\nerror: ${run.error.code}: ${run.error.detail}` : ""}`;
}

/** Prints the run as it changes: redrawn in place on a terminal, one JSON line per change with --json. */
async function followRun(/** @type {any} */ ctx, /** @type {string} */ squadId, /** @type {string} */ runId) {
  const { client, out } = ctx;
  let lines = 0;
  let last = "";
  const run = await withInterrupt(`run ${runId}`, (signal) =>
    poll({
      signal,
      load: async () => (await client.request("GET", `/squads/${squadId}/runs/${runId}`, { signal })).data,
      onState: (r) => {
        const snapshot = JSON.stringify(r);
        if (snapshot === last) return;
        last = snapshot;
        if (out.json) out.event(r, () => "");
        else if (out.interactive) lines = out.redraw(stepTable(r, out.colors.status), lines);
        else out.progress(`${runId} ${r.status}: ${r.steps.filter((/** @type {any} */ s) => s.status === "completed").length}/${r.steps.length} steps done`);
      },
      done: (r) => r.status !== "running",
    }),
  );
  if (!out.json && !out.interactive) out.text(stepTable(run));
  return run.status === "completed" ? EXIT.ok : EXIT.failed;
}

/** @type {import("../lib/args.mjs").Command[]} */
export const workflowCommands = [
  {
    name: "workflows push",
    args: "<file>",
    summary: "Store a workflow (JSON or YAML) as the next version of its name",
    examples: ["tdev workflows push examples/squads/diamond.yaml"],
    async run({ client, out, name }, { positionals }) {
      const reply = await client.request("POST", "/workflows", await definitionBody(positionals.file, name));
      const w = reply.data;
      out.result(w, () => `${reply.status === 201 ? "stored" : "unchanged"} ${w.name} v${w.version}: ${w.stepCount} steps in ${w.levels.length} levels`);
    },
  },
  {
    name: "workflows validate",
    args: "<file>",
    summary: "Validate a workflow and print its plan, without storing it",
    async run({ client, out, name }, { positionals }) {
      const plan = (await client.request("POST", "/workflows/validate", await definitionBody(positionals.file, name))).data;
      out.result(plan, () => `valid: ${plan.stepCount} steps in ${plan.levels.length} levels\n${planText(plan.levels)}`);
    },
  },
  {
    name: "workflows ls",
    summary: "Workflows (the latest version of each)",
    options: { ...PAGE_OPTIONS },
    async run({ client, out, name }, { values }) {
      const page = await client.get("/workflows", pageQuery(values, name));
      out.table(
        page.items,
        [
          { header: "name", get: (w) => w.name },
          { header: "version", get: (w) => w.version, align: "right" },
          { header: "steps", get: (w) => w.stepCount, align: "right" },
          { header: "created", get: (w) => shortTime(w.createdAt) },
          { header: "description", get: (w) => w.description },
        ],
        page,
      );
      morePages(out, page);
    },
  },
  {
    name: "workflows get",
    args: "<name>",
    summary: "A workflow version with its plan",
    options: { version: { type: "string", value: "N", description: "default: the latest" } },
    async run({ client, out, name }, { values, positionals }) {
      const w = await client.get(`/workflows/${encodeURIComponent(positionals.name)}`, { version: intOption(values.version, "version", name) });
      out.result(
        w,
        () =>
          `${renderFields([
            ["name", w.name],
            ["version", w.version],
            ["created", shortTime(w.createdAt)],
            ["description", w.description],
          ])}\nplan:\n${planText(w.levels)}`,
      );
    },
  },
  {
    name: "workflows run",
    args: "<squad> <workflow>",
    summary: "Run a stored workflow through a squad; --follow shows the step table until the run ends",
    options: {
      ...INPUT_OPTIONS,
      version: { type: "string", value: "N", description: "workflow version (default: the latest)" },
      priority: { type: "string", value: "0-9", description: "priority of the run's tasks (default 5)" },
      follow: { type: "boolean", short: "f", description: "follow the run; exit 5 if it fails, 130 on Ctrl-C (the run goes on)" },
    },
    examples: ['tdev workflows run demo review-diamond --input \'{"text":"hello","length":5}\' --follow'],
    async run(ctx, { values, positionals }) {
      const { client, out, name } = ctx;
      const id = await resolveSquad(client, positionals.squad);
      const input = await readInput(values, name, { fromStdin: true });
      // The API requires the input key (null when the workflow reads none).
      const body = {
        workflow: positionals.workflow,
        version: intOption(values.version, "version", name),
        priority: intOption(values.priority, "priority", name),
        input: input ?? null,
      };
      const started = await client.post(`/squads/${id}/runs`, body);
      if (!values.follow) return out.result(started, () => started.runId);
      out.note(`started ${started.workflow} v${started.version} as ${started.runId}`);
      return followRun(ctx, id, started.runId);
    },
  },
  {
    name: "workflows runs",
    args: "<squad>",
    summary: "A squad's workflow runs, newest first",
    options: { ...PAGE_OPTIONS },
    async run({ client, out, name }, { values, positionals }) {
      const page = await client.get(`/squads/${await resolveSquad(client, positionals.squad)}/runs`, pageQuery(values, name));
      out.table(
        page.items,
        [
          { header: "run", get: (r) => r.runId },
          { header: "workflow", get: (r) => `${r.workflow} v${r.version}` },
          { header: "status", get: (r) => r.status, color: (t) => out.colors.status(t) },
          { header: "started", get: (r) => shortTime(r.startedAt) },
          { header: "duration", get: (r) => millis(r.durationMs), align: "right" },
          { header: "error", get: (r) => r.error?.code },
        ],
        page,
      );
      morePages(out, page);
    },
  },
  {
    name: "workflows show",
    args: "<squad> <run-id>",
    summary: "One workflow run with each step's status; --follow until it ends",
    options: { follow: { type: "boolean", short: "f", description: "follow the run until it ends" } },
    async run(ctx, { values, positionals }) {
      const { client, out } = ctx;
      const id = await resolveSquad(client, positionals.squad);
      if (values.follow) return followRun(ctx, id, positionals["run-id"]);
      const run = await client.get(`/squads/${id}/runs/${encodeURIComponent(positionals["run-id"])}`);
      out.result(run, () => stepTable(run, out.colors.status));
    },
  },
];
