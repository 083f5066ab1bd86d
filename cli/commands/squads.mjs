// Squads, their tasks, and the live event stream.
import { intOption, jsonOption } from "../lib/args.mjs";
import { EXIT, UsageError } from "../lib/errors.mjs";
import { poll, withInterrupt } from "../lib/follow.mjs";
import { INPUT_OPTIONS, readInput, readJsonFile } from "../lib/input.mjs";
import { renderFields, shortTime } from "../lib/output.mjs";
import { morePages, PAGE_OPTIONS, pageQuery } from "../lib/paging.mjs";
import { resolveSquad } from "../lib/squad-ref.mjs";
import { tailSquad } from "../lib/stream.mjs";
import { showOutput } from "./runs.mjs";

/** "agent", "agent@1.2.0", "agent#canary", each optionally ":weight" → a squad member. */
export function parseMember(/** @type {string} */ text, /** @type {string} */ command) {
  const m = /^([a-z][a-z0-9-]{0,62})(?:@([^:#]+)|#([a-z][a-z0-9-]*))?(?::(\d+(?:\.\d+)?))?$/.exec(text);
  if (!m) throw new UsageError(`--member ${text}: expected agent, agent@version or agent#channel, optionally :weight`, command);
  return { agent: m[1], ...(m[2] ? { version: m[2] } : {}), ...(m[3] ? { channel: m[3] } : {}), ...(m[4] ? { weight: Number(m[4]) } : {}) };
}

/** "3:majority" → {n: 3, strategy: "majority"}. */
export function parseConsensus(/** @type {string | undefined} */ text, /** @type {string} */ command) {
  if (text === undefined) return undefined;
  const m = /^(\d+):([a-z]+)$/.exec(text);
  if (!m) throw new UsageError(`--consensus ${text}: expected N:strategy, such as 3:majority`, command);
  return { n: Number(m[1]), strategy: m[2] };
}

/** One squad event as a line: seq, time, type, data. */
export const eventLine = (/** @type {import("../lib/stream.mjs").StreamEvent} */ e) =>
  `${String(e.seq ?? "").padStart(5)}  ${shortTime(e.ts)}  ${e.type.padEnd(20)}  ${JSON.stringify(e.data ?? null)}`;

const TASK_DONE = new Set(["completed", "failed", "cancelled"]);

const taskColumns = /** @type {import("../lib/output.mjs").Column[]} */ ([
  { header: "task", get: (t) => t.taskId },
  { header: "status", get: (t) => t.status },
  { header: "priority", get: (t) => t.priority, align: "right" },
  { header: "for", get: (t) => t.agent ?? t.capability },
  { header: "member", get: (t) => t.member },
  { header: "attempts", get: (t) => t.attempts, align: "right" },
  { header: "queued", get: (t) => shortTime(t.queuedAt) },
  { header: "error", get: (t) => t.error?.code },
]);

const taskFields = (/** @type {any} */ t) =>
  renderFields([
    ["task", t.taskId],
    ["status", t.status],
    ["for", t.agent ?? t.capability],
    ["member", t.member ?? ""],
    ["attempts", t.attempts],
    ["queued", shortTime(t.queuedAt)],
    ["finished", shortTime(t.finishedAt)],
    ["error", t.error ? `${t.error.code}: ${t.error.detail}` : undefined],
    ["consensus", t.consensus ? `${t.consensus.strategy} of ${t.consensus.n}, agreement ${t.consensus.agreement ?? "-"}` : undefined],
  ]) + (t.status === "completed" ? `\noutput:\n${showOutput(t.output)}` : "");

/** @type {import("../lib/args.mjs").Command[]} */
export const squadCommands = [
  {
    name: "squads ls",
    summary: "List squads",
    options: { ...PAGE_OPTIONS },
    async run({ client, out, name }, { values }) {
      const page = await client.get("/squads", pageQuery(values, name));
      out.table(
        page.items,
        [
          { header: "id", get: (s) => s.id },
          { header: "name", get: (s) => s.name },
          { header: "members", get: (s) => s.members.map((/** @type {any} */ m) => m.agent + (m.version ? `@${m.version}` : m.channel ? `#${m.channel}` : "")).join(",") },
          { header: "created", get: (s) => shortTime(s.createdAt) },
        ],
        page,
      );
      morePages(out, page);
    },
  },
  {
    name: "squads create",
    args: "<name>",
    summary: "Create a squad from --member flags (or a JSON config file)",
    options: {
      member: { type: "string", multiple: true, value: "AGENT", description: "agent, agent@version or agent#channel, optionally :weight" },
      description: { type: "string", value: "TEXT", description: "what the squad is for" },
      policy: { type: "string", value: "JSON", description: 'policy, e.g. \'{"maxConcurrency":8,"retries":1}\'' },
      file: { type: "string", value: "FILE", description: "a full squad config as JSON ({name, members, policy})" },
    },
    examples: ["tdev squads create demo --member echo --member sentiment#canary:2"],
    async run({ client, out, name }, { values, positionals }) {
      const base = values.file ? await readJsonFile(values.file, name) : {};
      const members = (values.member ?? []).map((/** @type {string} */ m) => parseMember(m, name));
      const policy = jsonOption(values.policy, "policy", name);
      const config = {
        ...base,
        name: positionals.name,
        ...(members.length ? { members } : {}),
        ...(values.description ? { description: values.description } : {}),
        ...(policy ? { policy } : {}),
      };
      if (!config.members?.length) throw new UsageError("A squad needs at least one --member.", name);
      const s = await client.post("/squads", config);
      out.result(s, () => s.id);
      out.note(`created squad ${s.name} (${s.id})`);
    },
  },
  {
    name: "squads get",
    args: "<squad>",
    summary: "A squad with live task counts and member breakers",
    async run({ client, out }, { positionals }) {
      const s = await client.get(`/squads/${await resolveSquad(client, positionals.squad)}`);
      out.result(s, () =>
        renderFields([
          ["id", s.id],
          ["name", s.name],
          ["members", s.stats.members.map((/** @type {any} */ m) => `${m.member} (${m.breaker}, ${m.inFlight} in flight)`).join(", ")],
          [
            "tasks",
            Object.entries(s.stats.tasks)
              .map(([k, v]) => `${k} ${v}`)
              .join(", ") || "none",
          ],
          ["last seq", s.stats.lastSeq],
          ["policy", JSON.stringify(s.policy)],
        ]),
      );
    },
  },
  {
    name: "squads rm",
    args: "<squad>",
    summary: "Delete a squad: queued tasks are cancelled, streams closed",
    async run({ client, out }, { positionals }) {
      const id = await resolveSquad(client, positionals.squad);
      await client.del(`/squads/${id}`);
      out.result({ deleted: id }, () => `deleted ${id}`);
    },
  },
  {
    name: "squads events",
    args: "<squad>",
    summary: "The squad's recent events after a seq (the stream's replay log)",
    options: {
      since: { type: "string", value: "SEQ", description: "events after this seq (default 0)" },
      limit: { type: "string", value: "N", description: "at most N (default 100)" },
    },
    async run({ client, out, name }, { values, positionals }) {
      const id = await resolveSquad(client, positionals.squad);
      const page = await client.get(`/squads/${id}/events`, { since: intOption(values.since, "since", name), limit: intOption(values.limit, "limit", name) });
      if (out.json) for (const e of page.items) out.event(e, () => "");
      else out.text(page.items.map(eventLine).join("\n") || "(none)");
    },
  },
  {
    name: "task submit",
    args: "<squad>",
    summary: "Queue a task on a squad; --follow waits for it and exits 5 if it fails",
    options: {
      capability: { type: "string", value: "CAP", description: "any member with this capability" },
      agent: { type: "string", value: "NAME", description: "a member agent by name" },
      ...INPUT_OPTIONS,
      priority: { type: "string", value: "0-9", description: "9 most urgent (default 5)" },
      deadline: { type: "string", value: "ISO", description: "fail the task if unfinished by then" },
      retries: { type: "string", value: "N", description: "override the squad's retries" },
      timeout: { type: "string", value: "MS", description: "override the squad's task timeout" },
      consensus: { type: "string", value: "N:STRATEGY", description: "run on N members: majority, unanimous or first" },
      "idempotency-key": { type: "string", value: "KEY", description: "a retried submit returns the same task" },
      follow: { type: "boolean", short: "f", description: "wait until the task ends and print its output" },
    },
    examples: ["tdev task submit demo --capability echo --input '{\"hi\":1}' --priority 9 --follow"],
    async run({ client, out, name }, { values, positionals }) {
      if (!values.capability === !values.agent) throw new UsageError("Give exactly one of --capability or --agent.", name);
      const id = await resolveSquad(client, positionals.squad);
      const input = await readInput(values, name, { fromStdin: true });
      const body = {
        ...(values.capability ? { capability: values.capability } : { agent: values.agent }),
        ...(input === undefined ? {} : { input }),
        priority: intOption(values.priority, "priority", name),
        deadline: values.deadline,
        retries: intOption(values.retries, "retries", name),
        timeoutMs: intOption(values.timeout, "timeout", name),
        consensus: parseConsensus(values.consensus, name),
      };
      const headers = values["idempotency-key"] ? { "idempotency-key": values["idempotency-key"] } : undefined;
      const accepted = (await client.request("POST", `/squads/${id}/tasks`, { body, headers })).data;
      if (!values.follow) {
        out.result(accepted, () => accepted.taskId);
        return;
      }
      out.note(`queued ${accepted.taskId}${accepted.duplicate ? " (duplicate: the earlier task)" : ""}`);
      const task = await withInterrupt(`task ${accepted.taskId}`, (signal) =>
        poll({
          signal,
          load: async () => (await client.request("GET", `/squads/${id}/tasks/${accepted.taskId}`, { signal })).data,
          onState: (t) => out.progress(`${t.taskId} ${t.status}${t.member ? ` on ${t.member}` : ""} (attempt ${t.attempts})`),
          done: (t) => TASK_DONE.has(t.status),
        }),
      );
      out.result(task, () => taskFields(task));
      return task.status === "completed" ? EXIT.ok : EXIT.failed;
    },
  },
  {
    name: "task get",
    args: "<squad> <task-id>",
    summary: "A task: status, attempts, member, output or error",
    async run({ client, out }, { positionals }) {
      const t = await client.get(`/squads/${await resolveSquad(client, positionals.squad)}/tasks/${encodeURIComponent(positionals["task-id"])}`);
      out.result(t, () => taskFields(t));
    },
  },
  {
    name: "task ls",
    args: "<squad>",
    summary: "A squad's tasks, newest first",
    options: { status: { type: "string", value: "STATUS", description: "queued, running, completed, failed or cancelled" }, ...PAGE_OPTIONS },
    async run({ client, out, name }, { values, positionals }) {
      const page = await client.get(`/squads/${await resolveSquad(client, positionals.squad)}/tasks`, { status: values.status, ...pageQuery(values, name) });
      out.table(
        page.items,
        taskColumns.map((c) => (c.header === "status" ? { ...c, color: (/** @type {string} */ t) => out.colors.status(t) } : c)),
        page,
      );
      morePages(out, page);
    },
  },
  {
    name: "task cancel",
    args: "<squad> <task-id>",
    summary: "Cancel a queued task (a running or finished one cannot be)",
    async run({ client, out }, { positionals }) {
      const t = await client.del(`/squads/${await resolveSquad(client, positionals.squad)}/tasks/${encodeURIComponent(positionals["task-id"])}`);
      out.result(t, () => `${t.taskId} ${t.status}`);
    },
  },
  {
    name: "tail",
    args: "<squad>",
    summary: "Live events of a squad; reconnects with ?since=<last seq> when the connection drops",
    description: "Starts from now (or after --since SEQ, replaying what the squad still keeps). Ctrl-C stops (exit 130).",
    options: {
      since: { type: "string", value: "SEQ", description: "first replay the events after this seq" },
      until: { type: "string", multiple: true, value: "TYPE", description: "stop after an event of this type, e.g. run.completed" },
    },
    examples: ["tdev tail demo", "tdev tail demo --since 0 --json | jq .type"],
    async run({ client, out, name, settings }, { values, positionals }) {
      const id = await resolveSquad(client, positionals.squad);
      // Start from the squad's last seq so a reconnect knows where to resume (this also checks the key and the squad).
      const since = intOption(values.since, "since", name) ?? (await client.get(`/squads/${id}`)).stats.lastSeq;
      const until = new Set(values.until ?? []);
      await withInterrupt(`squad ${id}`, (signal) =>
        tailSquad({
          server: settings.url,
          key: settings.key,
          squadId: id,
          since,
          signal,
          onStatus: (s) => out.note(out.colors.wrap("dim", s)),
          onEvent: (e) => {
            if (e.type === "stream.gap") out.note(`events before seq ${/** @type {any} */ (e.data)?.oldestAvailable} are no longer kept`);
            out.event(e, () => eventLine(e));
            return until.has(e.type);
          },
        }),
      );
    },
  },
];
