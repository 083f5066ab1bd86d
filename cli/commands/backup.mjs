// Backups: stream the control plane out as NDJSON, restore it into an empty instance, and the copies the cron keeps in R2.
import { createReadStream, createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { UsageError } from "../lib/errors.mjs";
import { renderFields, shortTime } from "../lib/output.mjs";

const NDJSON = "application/x-ndjson";

const OUTPUT_OPTION = /** @type {const} */ ({ output: { type: "string", short: "o", value: "FILE", description: "write to FILE instead of stdout" } });

/** "1,234,567 bytes" — sizes as people compare them. */
export const bytesText = (/** @type {number} */ n) => `${n.toLocaleString("en-US")} bytes`;

/**
 * Copies an NDJSON download to FILE or stdout chunk by chunk, so a large backup never sits in memory.
 * A terminal is refused: pages of NDJSON on screen help nobody, and `> file` is what was meant.
 */
async function download(/** @type {import("../lib/args.mjs").Context} */ ctx, /** @type {string} */ route, /** @type {string | undefined} */ file) {
  if (!file && ctx.out.stdout.isTTY) throw new UsageError("stdout is a terminal: redirect it (`> backup.ndjson`) or pass --output FILE.", ctx.name);
  const { data } = await ctx.client.request("GET", route, { stream: true, headers: { accept: `${NDJSON}, application/problem+json;q=0.9` } });
  const source = Readable.fromWeb(data);
  if (file) {
    await pipeline(source, createWriteStream(file));
    ctx.out.note(`wrote ${file}`);
    return;
  }
  try {
    await pipeline(source, ctx.out.stdout, { end: false });
  } catch (err) {
    // `tdev backup | head` closes the pipe early; that is the reader's choice, not a failure.
    if (/** @type {NodeJS.ErrnoException} */ (err).code !== "EPIPE") throw err;
  }
}

/** @type {import("../lib/args.mjs").Command[]} */
export const backupCommands = [
  {
    name: "backup",
    summary: "Stream a backup of the whole control plane (NDJSON, no secrets) to stdout or --output",
    description:
      "One JSON document per line: a header {format, version, createdAt, counts}, then {table, row} per row. API keys are kept as hashes only. Needs the keys:admin scope.",
    options: { ...OUTPUT_OPTION },
    examples: ["tdev backup > backup.ndjson", "tdev backup | head -1"],
    async run(ctx, { values }) {
      await download(ctx, "/backup", values.output);
    },
  },
  {
    name: "restore",
    args: "[file]",
    summary: "Restore a backup into an empty instance, all or nothing (reads stdin without a file)",
    description: "The server refuses (409) an instance that already holds data; a failed restore leaves it empty. The body is streamed, so size is not limited.",
    examples: ["tdev restore < backup.ndjson", "tdev restore backup.ndjson --json"],
    async run({ client, out, name }, { positionals }) {
      const file = positionals.file;
      if (!file && process.stdin.isTTY) throw new UsageError("Give a backup file, or pipe one on stdin (`tdev restore < backup.ndjson`).", name);
      const body = file ? createReadStream(file) : process.stdin;
      const r = await client.post("/restore", undefined, { raw: body, contentType: NDJSON });
      const total = Object.values(/** @type {Record<string, number>} */ (r.counts)).reduce((a, b) => a + b, 0);
      out.result(r, () => [`restored ${total} rows`, renderFields(Object.entries(r.counts).map(([table, n]) => [table, n]))].join("\n"));
    },
  },
  {
    name: "backups ls",
    summary: "Backups kept in R2 (daily cron and `tdev backups create`), newest first",
    async run({ client, out }) {
      const page = await client.get("/backups");
      out.table(
        page.items,
        [
          { header: "name", get: (b) => b.name },
          { header: "size", get: (b) => b.size, align: "right" },
          { header: "uploaded", get: (b) => shortTime(b.uploadedAt) },
        ],
        page,
      );
    },
  },
  {
    name: "backups get",
    args: "<name>",
    summary: "Download one stored backup to stdout or --output",
    options: { ...OUTPUT_OPTION },
    examples: ["tdev backups get 2026-05-03T03-00-00.000Z.ndjson -o backup.ndjson"],
    async run(ctx, { values, positionals }) {
      await download(ctx, `/backups/${encodeURIComponent(positionals.name)}`, values.output);
    },
  },
  {
    name: "backups create",
    summary: "Write a backup to R2 now and prune to BACKUP_RETENTION",
    async run({ client, out }) {
      const b = await client.post("/backups", undefined);
      out.result(b, () =>
        renderFields([
          ["stored", b.name],
          ["size", bytesText(b.size)],
          ["pruned", b.deleted.join(", ") || "none"],
        ]),
      );
    },
  },
];
