// AWS deployments: ship a registry version to Bedrock Agents or AgentCore Runtime, follow it step by step, roll `live` back.
import { CliError, EXIT, UsageError } from "../lib/errors.mjs";
import { poll, withInterrupt } from "../lib/follow.mjs";
import { pages } from "../lib/http.mjs";
import { millis, renderFields, renderTable, shortTime } from "../lib/output.mjs";
import { morePages, PAGE_OPTIONS, pageQuery } from "../lib/paging.mjs";

/** The server's targets, and the short names people type. */
export const AWS_TARGETS = /** @type {const} */ ({ bedrock: "bedrock-agent", agentcore: "agentcore-runtime" });
const DONE = new Set(["succeeded", "failed", "rolled_back"]);
const DEPLOYMENT_ID = /^awd_/;

/** --target bedrock|agentcore (or the server's full names) → the server's name; undefined lets the server pick by kind. */
export function parseTarget(/** @type {string | undefined} */ value, /** @type {string} */ command) {
  if (value === undefined) return undefined;
  const full = /** @type {Record<string, string>} */ (AWS_TARGETS)[value] ?? (Object.values(AWS_TARGETS).includes(/** @type {any} */ (value)) ? value : undefined);
  if (!full) throw new UsageError(`--target must be bedrock or agentcore, not ${JSON.stringify(value)}`, command);
  return full;
}

/** "sentiment@1.2.0" → { agent, version }; a bare name leaves the version to the server (the live channel's). */
export function parseAgentVersion(/** @type {string} */ ref, /** @type {string} */ command) {
  const at = ref.indexOf("@");
  const agent = at < 0 ? ref : ref.slice(0, at);
  const version = at < 0 ? undefined : ref.slice(at + 1);
  if (!agent || version === "") throw new UsageError(`Expected <agent> or <agent>@<version>, not ${JSON.stringify(ref)}`, command);
  return { agent, version };
}

/**
 * The deployment `live` points at on each target, as the server decides it: the latest finished
 * succeeded-or-rolled-back one. Only a succeeded one can be rolled back.
 */
export function liveDeployments(/** @type {any[]} */ deployments) {
  /** @type {Map<string, any>} */
  const live = new Map();
  const finished = deployments.filter((d) => (d.status === "succeeded" || d.status === "rolled_back") && d.finishedAt);
  finished.sort((a, b) => (a.finishedAt === b.finishedAt ? (a.id < b.id ? 1 : -1) : a.finishedAt < b.finishedAt ? 1 : -1));
  for (const d of finished) if (!live.has(d.target)) live.set(d.target, d);
  return [...live.values()];
}

/** Which deployment `tdev aws rollback <agent>` undoes, or why there is none to undo. */
export function rollbackChoice(/** @type {any[]} */ deployments, /** @type {string | undefined} */ target, /** @type {string} */ agent, /** @type {string} */ command) {
  const live = liveDeployments(deployments).filter((d) => !target || d.target === target);
  if (live.length > 1) throw new UsageError(`${agent} is live on ${live.map((d) => d.target).join(" and ")}; pick one with --target.`, command);
  const current = live[0];
  if (!current)
    throw new CliError(`${agent} has no finished AWS deployment${target ? ` on ${target}` : ""} to roll back.`, EXIT.error, [`\`tdev aws ls ${agent}\` lists its deployments.`]);
  if (current.status !== "succeeded") throw new CliError(`${agent}'s live deployment ${current.id} is already rolled back.`, EXIT.error);
  return current;
}

const stepColumns = /** @type {import("../lib/output.mjs").Column[]} */ ([
  { header: "step", get: (s) => s.name },
  { header: "status", get: (s) => s.status },
  { header: "attempts", get: (s) => s.attempts, align: "right" },
  { header: "polls", get: (s) => s.polls, align: "right" },
  { header: "duration", get: (s) => millis(s.durationMs), align: "right" },
  { header: "error", get: (s) => (s.error ? `${s.error.code}: ${s.error.message}` : "") },
]);

function deploymentText(/** @type {any} */ d, /** @type {(s: string) => string} */ status) {
  const aws = d.aws ?? {};
  return [
    renderFields([
      ["deployment", d.id],
      ["agent", `${d.agentId}@${d.version}`],
      ["target", d.target],
      ["status", status(d.status)],
      ["error", d.error ? `${d.error.code}: ${d.error.message}` : undefined],
      ["aws", [aws.agentId ?? aws.runtimeArn, aws.aliasId ?? aws.endpoint].filter(Boolean).join(" ") || undefined],
      ["aws version", aws.version ? `${aws.version}${aws.previousVersion ? ` (was ${aws.previousVersion})` : ""}` : undefined],
      ["by", d.createdBy],
      ["created", shortTime(d.createdAt)],
      ["finished", d.finishedAt ? shortTime(d.finishedAt) : undefined],
      ["rolled back", d.rolledBackAt ? shortTime(d.rolledBackAt) : undefined],
    ]),
    d.steps?.length ? renderTable(d.steps, stepColumns) : "",
  ]
    .filter(Boolean)
    .join("\n\n");
}

/**
 * What following waits for: a deployment until it ends; a rollback (its steps are named `<action>:…`)
 * until the deployment turns rolled_back or one of those steps fails.
 */
export function followPlan(/** @type {string | undefined} */ rollback) {
  if (!rollback) return { shows: (/** @type {any} */ _s) => true, done: (/** @type {any} */ d) => DONE.has(d.status), ok: (/** @type {any} */ d) => d.status !== "failed" };
  const own = (/** @type {any} */ s) => s.name.startsWith(`${rollback}:`);
  return {
    shows: own,
    done: (/** @type {any} */ d) => d.status === "rolled_back" || d.steps.some((/** @type {any} */ s) => own(s) && s.status === "failed"),
    ok: (/** @type {any} */ d) => d.status === "rolled_back",
  };
}

/** Polls a deployment until the plan says it ended, printing each step once it finishes; exit 5 when it failed. */
async function follow(/** @type {import("../lib/args.mjs").Context} */ { client, out }, /** @type {string} */ id, /** @type {string | undefined} */ rollback = undefined) {
  const plan = followPlan(rollback);
  const printed = new Set();
  const d = await withInterrupt(`deployment ${id}`, (signal) =>
    poll({
      signal,
      intervalMs: 2000,
      load: async () => (await client.request("GET", `/aws-deployments/${encodeURIComponent(id)}`, { signal })).data,
      onState: (state) => {
        for (const s of state.steps.filter(plan.shows)) {
          if (s.status === "running" || printed.has(s.name)) continue;
          printed.add(s.name);
          out.event(
            s,
            () =>
              `${s.status === "failed" ? out.colors.status("failed") : "done"}  ${s.name}${s.durationMs === null ? "" : ` (${millis(s.durationMs)})`}${s.error ? `: ${s.error.code}: ${s.error.message}` : ""}`,
          );
        }
        const running = state.steps.find((/** @type {any} */ s) => s.status === "running" && plan.shows(s));
        out.progress(`${state.status}${running ? `: ${running.name}, ${running.polls} polls` : ""}`);
      },
      done: plan.done,
    }),
  );
  if (out.json) out.event(d, () => "");
  else out.text(deploymentText(d, out.colors.status));
  return plan.ok(d) ? EXIT.ok : EXIT.failed;
}

const followOption = { type: /** @type {const} */ ("boolean"), short: "f", description: "follow it step by step until it ends; exit 5 if it fails, 130 on Ctrl-C (it goes on)" };

/** @type {import("../lib/args.mjs").Command[]} */
export const awsCommands = [
  {
    name: "aws deploy",
    args: "<agent[@version]>",
    summary: "Ship an agent version to AWS (llm → Bedrock Agents, code → AgentCore Runtime)",
    description:
      "Without @version the live channel's version goes. The server checks the spec for the target before any AWS call (422 names the rule). Needs the evolution:admin scope.",
    options: {
      target: { type: "string", value: "TARGET", description: "bedrock or agentcore (default by the agent's kind)" },
      follow: followOption,
    },
    examples: ["tdev aws deploy sentiment@1.2.0 --follow", "tdev aws deploy summarizer --target bedrock --json"],
    async run(ctx, { values, positionals }) {
      const { agent, version } = parseAgentVersion(positionals["agent[@version]"], ctx.name);
      const body = { ...(version ? { version } : {}), ...(values.target ? { target: parseTarget(values.target, ctx.name) } : {}) };
      const started = await ctx.client.post(`/agents/${encodeURIComponent(agent)}/aws-deployments`, body);
      if (!values.follow) return ctx.out.result(started, () => started.id);
      ctx.out.note(`deployment ${started.id} ${started.status}`);
      return follow(ctx, started.id);
    },
  },
  {
    name: "aws status",
    args: "<deployment-id>",
    summary: "A deployment: status, AWS ids and versions, each step with attempts, polls and timings",
    options: { follow: followOption },
    async run(ctx, { values, positionals }) {
      const id = positionals["deployment-id"];
      if (values.follow) return follow(ctx, id);
      const d = await ctx.client.get(`/aws-deployments/${encodeURIComponent(id)}`);
      ctx.out.result(d, () => deploymentText(d, ctx.out.colors.status));
    },
  },
  {
    name: "aws ls",
    args: "<agent>",
    summary: "An agent's AWS deployments, newest first",
    options: { ...PAGE_OPTIONS },
    async run({ client, out, name }, { values, positionals }) {
      const page = await client.get(`/agents/${encodeURIComponent(positionals.agent)}/aws-deployments`, pageQuery(values, name));
      out.table(
        page.items,
        [
          { header: "deployment", get: (d) => d.id },
          { header: "version", get: (d) => d.version },
          { header: "target", get: (d) => d.target },
          { header: "status", get: (d) => d.status, color: (t) => out.colors.status(t) },
          { header: "aws version", get: (d) => d.aws.version },
          { header: "created", get: (d) => shortTime(d.createdAt) },
          { header: "error", get: (d) => d.error?.code },
        ],
        page,
      );
      morePages(out, page);
    },
  },
  {
    name: "aws rollback",
    args: "<agent>",
    summary: "Move the agent's AWS `live` back to the version it had before its latest deployment",
    description:
      "Undoes the deployment `live` points at now (or the one named by an awd_… id). With deployments on both targets, pick one with --target. Needs the evolution:admin scope.",
    options: { target: { type: "string", value: "TARGET", description: "bedrock or agentcore" }, follow: followOption },
    examples: ["tdev aws rollback sentiment --follow"],
    async run(ctx, { values, positionals }) {
      const ref = positionals.agent;
      let id = ref;
      if (!DEPLOYMENT_ID.test(ref)) {
        const all = [];
        for await (const d of pages(ctx.client, `/agents/${encodeURIComponent(ref)}/aws-deployments`)) all.push(d);
        id = rollbackChoice(all, parseTarget(values.target, ctx.name), ref, ctx.name).id;
      }
      const r = await ctx.client.post(`/aws-deployments/${encodeURIComponent(id)}/rollback`, undefined);
      if (!values.follow) return ctx.out.result(r, () => `rolling back ${r.id} (${r.rollback})`);
      ctx.out.note(`rolling back ${r.id} (${r.rollback})`);
      return follow(ctx, id, r.rollback);
    },
  },
];
