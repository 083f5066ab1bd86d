// Messages, dead letters and topics.
import { intOption, jsonOption } from "../lib/args.mjs";
import { UsageError } from "../lib/errors.mjs";
import { readInput } from "../lib/input.mjs";
import { renderFields, shortTime } from "../lib/output.mjs";
import { morePages, PAGE_OPTIONS, pageQuery } from "../lib/paging.mjs";
import { resolveSquad } from "../lib/squad-ref.mjs";

const EVENT_TYPE_OPTION = /** @type {const} */ ({
  "event-type": { type: "string", multiple: true, value: "TYPE", description: "only these event types (wildcards like evolution.*)" },
});

const deadLetterColumns = /** @type {import("../lib/output.mjs").Column[]} */ ([
  { header: "id", get: (d) => d.id },
  { header: "reason", get: (d) => d.reason },
  { header: "target", get: (d) => d.target },
  { header: "kind", get: (d) => d.kind },
  { header: "attempts", get: (d) => d.attempts, align: "right" },
  { header: "replays", get: (d) => d.replayCount, align: "right" },
  { header: "updated", get: (d) => shortTime(d.updatedAt) },
  { header: "last error", get: (d) => d.lastError },
]);

/** @type {import("../lib/args.mjs").Command[]} */
export const messagingCommands = [
  {
    name: "messages send",
    summary: "Send an encrypted message to a squad (a task), an agent (a run) or a topic (an event)",
    options: {
      squad: { type: "string", value: "SQUAD", description: "to a squad (id or name): the payload is a task request" },
      agent: { type: "string", value: "REF", description: "to an agent (name, name@1.2.0, name#channel): the payload is the input" },
      topic: { type: "string", value: "TOPIC", description: "to a topic: the payload is {type, data}" },
      payload: { type: "string", value: "JSON", description: "the payload (else --payload-file, or stdin)" },
      "payload-file": { type: "string", value: "FILE", description: "read the payload from FILE (- for stdin)" },
      kind: { type: "string", value: "KIND", description: "task, run, event or delivery (inferred when omitted)" },
      priority: { type: "string", value: "0-9", description: "7-9 high band, 3-6 normal, 0-2 low (default 5)" },
      "idempotency-key": { type: "string", value: "KEY", description: "same target + key: one effect" },
      "expires-in": { type: "string", value: "MS", description: "dead-letter the message if undelivered after this long" },
    },
    examples: ['tdev messages send --agent sentiment --payload \'{"text":"great"}\'', 'tdev messages send --squad demo --payload \'{"capability":"echo","input":1}\''],
    async run({ client, out, name }, { values }) {
      const targets = ["squad", "agent", "topic"].filter((t) => values[t] !== undefined);
      if (targets.length !== 1) throw new UsageError("Give exactly one of --squad, --agent or --topic.", name);
      const to = values.squad ? { squad: await resolveSquad(client, values.squad) } : values.agent ? { agent: values.agent } : { topic: values.topic };
      const payload = await readInput({ input: values.payload, "input-file": values["payload-file"] }, name, { fromStdin: true });
      const body = {
        to,
        ...(payload === undefined ? {} : { payload }),
        kind: values.kind,
        priority: intOption(values.priority, "priority", name),
        idempotencyKey: values["idempotency-key"],
        expiresInMs: intOption(values["expires-in"], "expires-in", name),
      };
      const accepted = await client.post("/messages", body);
      out.result(accepted, () => accepted.id);
    },
  },
  {
    name: "messages get",
    args: "<message-id>",
    summary: "Where a message is: pending, delivering, retrying, delivered or dead",
    async run({ client, out }, { positionals }) {
      const m = await client.get(`/messages/${encodeURIComponent(positionals["message-id"])}`);
      out.result(m, () =>
        renderFields([
          ["id", m.id],
          ["status", out.colors.status(m.status)],
          ["target", m.target],
          ["attempts", m.attempts],
          ["delivered", shortTime(m.deliveredAt)],
          ["last error", m.lastError ?? undefined],
          ["dead letter", m.deadLetter ? `${m.deadLetter.reason}, replayed ${m.deadLetter.replayCount}×` : undefined],
        ]),
      );
    },
  },
  {
    name: "dlq ls",
    summary: "Dead letters, newest first",
    options: {
      reason: { type: "string", value: "REASON", description: "malformed, unknown_key, tampered, expired, rejected or max_retries" },
      target: { type: "string", value: "TARGET", description: "only this target, e.g. agent:sentiment" },
      ...PAGE_OPTIONS,
    },
    async run({ client, out, name }, { values }) {
      const page = await client.get("/dead-letters", { reason: values.reason, target: values.target, ...pageQuery(values, name) });
      out.table(page.items, deadLetterColumns, page);
      morePages(out, page);
    },
  },
  {
    name: "dlq get",
    args: "<id>",
    summary: "One dead letter with its (still encrypted) envelope",
    async run({ client, out }, { positionals }) {
      const d = await client.get(`/dead-letters/${encodeURIComponent(positionals.id)}`);
      out.result(d, () => `${renderFields(deadLetterColumns.map((c) => [c.header, c.get(d)]))}\nfirst error: ${d.firstError ?? ""}`);
    },
  },
  {
    name: "dlq replay",
    args: "<id>",
    summary: "Send a dead letter again (same id and bytes) and mark it replayed",
    async run({ client, out }, { positionals }) {
      const d = await client.post(`/dead-letters/${encodeURIComponent(positionals.id)}/replay`, undefined);
      out.result(d, () => `replayed ${d.id} to ${d.target} (replay ${d.replayCount})`);
    },
  },
  {
    name: "dlq rm",
    args: "<id>",
    summary: "Forget a dead letter",
    async run({ client, out }, { positionals }) {
      await client.del(`/dead-letters/${encodeURIComponent(positionals.id)}`);
      out.result({ deleted: positionals.id }, () => `deleted ${positionals.id}`);
    },
  },
  {
    name: "topics ls",
    summary: "Topics that have subscribers",
    options: { ...PAGE_OPTIONS },
    async run({ client, out, name }, { values }) {
      const page = await client.get("/topics", pageQuery(values, name));
      out.table(
        page.items,
        [
          { header: "topic", get: (t) => t.topic },
          { header: "subscriptions", get: (t) => t.subscriptions, align: "right" },
        ],
        page,
      );
      morePages(out, page);
    },
  },
  {
    name: "topics subs",
    args: "<topic>",
    summary: "A topic's subscriptions",
    options: { ...PAGE_OPTIONS },
    async run({ client, out, name }, { values, positionals }) {
      const page = await client.get(`/topics/${encodeURIComponent(positionals.topic)}/subscriptions`, pageQuery(values, name));
      out.table(
        page.items,
        [
          { header: "id", get: (s) => s.id },
          { header: "type", get: (s) => s.type },
          { header: "target", get: (s) => s.target },
          { header: "events", get: (s) => s.eventTypes.join(",") || "*" },
          { header: "created", get: (s) => shortTime(s.createdAt) },
        ],
        page,
      );
      morePages(out, page);
    },
  },
  {
    name: "topics subscribe",
    args: "<topic>",
    summary: "Subscribe a signed webhook, a squad (event → task) or a WebSocket stream to a topic",
    options: {
      webhook: { type: "string", value: "URL", description: "POST events to this URL, signed with X-TDev-Signature" },
      squad: { type: "string", value: "SQUAD", description: "turn each event into a task on this squad (with --task)" },
      task: { type: "string", value: "JSON", description: 'the task template for --squad, e.g. \'{"capability":"echo"}\'' },
      websocket: { type: "boolean", description: "a WebSocket subscription (its stream path is printed)" },
      ...EVENT_TYPE_OPTION,
    },
    async run({ client, out, name }, { values, positionals }) {
      const kinds = ["webhook", "squad", "websocket"].filter((k) => values[k] !== undefined);
      if (kinds.length !== 1) throw new UsageError("Give exactly one of --webhook, --squad or --websocket.", name);
      const eventTypes = values["event-type"] ?? [];
      const body = values.webhook
        ? { type: "webhook", url: values.webhook, eventTypes }
        : values.squad
          ? { type: "squad", squad: await resolveSquad(client, values.squad), task: jsonOption(values.task, "task", name) ?? {}, eventTypes }
          : { type: "websocket", eventTypes };
      const s = await client.post(`/topics/${encodeURIComponent(positionals.topic)}/subscriptions`, body);
      out.result(s, () =>
        [`subscribed ${s.id} (${s.type} → ${s.target})`, ...(s.secret ? [`webhook secret (shown once): ${s.secret}`] : []), ...(s.stream ? [`stream: ${s.stream}`] : [])].join(
          "\n",
        ),
      );
    },
  },
  {
    name: "topics unsubscribe",
    args: "<topic> <subscription-id>",
    summary: "Remove a subscription (deliveries already queued are dropped)",
    async run({ client, out }, { positionals }) {
      await client.del(`/topics/${encodeURIComponent(positionals.topic)}/subscriptions/${encodeURIComponent(positionals["subscription-id"])}`);
      out.result({ deleted: positionals["subscription-id"] }, () => `unsubscribed ${positionals["subscription-id"]}`);
    },
  },
  {
    name: "topics publish",
    args: "<topic> <type>",
    summary: "Publish an event to every subscriber of a topic",
    options: {
      data: { type: "string", value: "JSON", description: "the event's data" },
      priority: { type: "string", value: "0-9", description: "default 5" },
      "idempotency-key": { type: "string", value: "KEY", description: "same key: one effect" },
    },
    async run({ client, out, name }, { values, positionals }) {
      const body = {
        type: positionals.type,
        data: jsonOption(values.data, "data", name),
        priority: intOption(values.priority, "priority", name),
        idempotencyKey: values["idempotency-key"],
      };
      const accepted = await client.post(`/topics/${encodeURIComponent(positionals.topic)}/events`, body);
      out.result(accepted, () => JSON.stringify(accepted));
    },
  },
];
