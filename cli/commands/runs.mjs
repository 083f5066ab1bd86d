// Running an agent once and reading recorded runs.
import { intOption } from "../lib/args.mjs";
import { ApiProblem, EXIT } from "../lib/errors.mjs";
import { INPUT_OPTIONS, readInput } from "../lib/input.mjs";
import { millis, renderFields, shortTime } from "../lib/output.mjs";
import { morePages, PAGE_OPTIONS, pageQuery } from "../lib/paging.mjs";

/** An agent's output as people read it: strings as they are, anything else as indented JSON. */
export const showOutput = (/** @type {unknown} */ output) => (typeof output === "string" ? output : (JSON.stringify(output, null, 2) ?? "null"));

/** @type {import("../lib/args.mjs").Command[]} */
export const runCommands = [
  {
    name: "run",
    args: "<agent>",
    summary: "Run an agent once (name, name@1.2.0 or name#channel) and print its output",
    description: "Input: --input JSON, --input-file FILE, or JSON piped on stdin. Exits 5 when the run fails (the problem names its run id).",
    options: {
      ...INPUT_OPTIONS,
      timeout: { type: "string", value: "MS", description: "shorten the agent's time limit" },
      session: { type: "string", value: "ID", description: "Bedrock session id (bedrock-agent agents)" },
    },
    examples: ['tdev run sentiment --input \'{"text":"I love it"}\'', 'echo \'{"text":"meh"}\' | tdev run sentiment#canary --json'],
    async run({ client, out, name }, { values, positionals }) {
      const input = await readInput(values, name, { fromStdin: true });
      const body = { agent: positionals.agent, ...(input === undefined ? {} : { input }), timeoutMs: intOption(values.timeout, "timeout", name), sessionId: values.session };
      let result;
      try {
        result = await client.post("/execute", body);
      } catch (err) {
        // The run happened and failed: that is the run's outcome (exit 5), not a usage or transport error.
        if (err instanceof ApiProblem && typeof err.problem.runId === "string") {
          err.exitCode = EXIT.failed;
          err.lines.push(`run: ${err.problem.runId} (tdev runs get ${err.problem.runId})`);
        }
        throw err;
      }
      out.result(result, () => showOutput(result.output));
      out.note(`${result.agent}@${result.version} · ${result.runId} · ${millis(result.durationMs)}${result.usage ? ` · ${result.usage.totalTokens} tokens` : ""}`);
    },
  },
  {
    name: "runs ls",
    summary: "Recorded runs, newest first",
    options: {
      agent: { type: "string", value: "NAME", description: "only this agent's runs" },
      status: { type: "string", value: "STATUS", description: "succeeded or failed" },
      trace: { type: "string", value: "TRACE-ID", description: "only runs of this W3C trace (32 hex digits)" },
      ...PAGE_OPTIONS,
    },
    async run({ client, out, name }, { values }) {
      const page = await client.get("/runs", { agent: values.agent, status: values.status, traceId: values.trace, ...pageQuery(values, name) });
      out.table(
        page.items,
        [
          { header: "id", get: (r) => r.id },
          { header: "agent", get: (r) => `${r.agent}@${r.version}` },
          { header: "status", get: (r) => r.status, color: (t) => out.colors.status(t) },
          { header: "source", get: (r) => r.source },
          { header: "duration", get: (r) => millis(r.durationMs), align: "right" },
          { header: "started", get: (r) => shortTime(r.startedAt) },
          { header: "error", get: (r) => r.error?.code },
        ],
        page,
      );
      morePages(out, page);
    },
  },
  {
    name: "runs get",
    args: "<run-id>",
    summary: "One run: who ran what, how it ended, timings, tokens, logs and output",
    async run({ client, out }, { positionals }) {
      const r = await client.get(`/runs/${encodeURIComponent(positionals["run-id"])}`);
      out.result(r, () =>
        [
          renderFields([
            ["run", r.id],
            ["agent", `${r.agent}@${r.version} (${r.kind})`],
            ["status", out.colors.status(r.status)],
            ["error", r.error ? `${r.error.code}: ${r.error.detail}` : undefined],
            ["source", `${r.source}, by ${r.actor}`],
            ["started", shortTime(r.startedAt)],
            ["duration", millis(r.durationMs)],
            ["model", r.modelId ?? undefined],
            ["tokens", r.usage ? `${r.usage.inputTokens} in, ${r.usage.outputTokens} out` : undefined],
            ["input", JSON.stringify(r.input)],
          ]),
          ...(r.logs.length ? ["logs:", ...r.logs.map((/** @type {string} */ l) => `  ${l}`)] : []),
          ...(r.status === "succeeded" ? ["output:", showOutput(r.output)] : []),
        ].join("\n"),
      );
    },
  },
];
