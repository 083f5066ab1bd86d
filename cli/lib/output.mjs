// What tdev prints: tables and key/value blocks for people, JSON for scripts, progress on stderr only on a terminal.

/** @typedef {{ header: string, get: (row: any) => unknown, align?: "left" | "right", color?: (text: string, row: any) => string }} Column */
/** @typedef {ReturnType<typeof createOutput>} Output */

const ANSI = /** @type {const} */ ({ red: 31, green: 32, yellow: 33, blue: 34, dim: 2, bold: 1 });
// eslint-disable-next-line no-control-regex
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the ESC of ANSI colour codes is the point
const ESCAPES = /\x1b\[[0-9;]*m/g;

/** Visible width, not counting colour escapes. */
export const visibleLength = (/** @type {string} */ text) => text.replace(ESCAPES, "").length;

/** Colours only for a terminal and only when NO_COLOR is unset (https://no-color.org). */
export function colorEnabled(/** @type {{ isTTY?: boolean }} */ stream, /** @type {Record<string, string | undefined>} */ env) {
  return Boolean(stream.isTTY) && !("NO_COLOR" in env && env.NO_COLOR !== "") && env.TERM !== "dumb";
}

export function paint(/** @type {boolean} */ enabled) {
  /** @type {(name: keyof typeof ANSI, text: string) => string} */
  const wrap = (name, text) => (enabled ? `\x1b[${ANSI[name]}m${text}\x1b[0m` : text);
  return {
    wrap,
    /** Statuses in their usual colours: green done, red failed, yellow in progress. */
    status: (/** @type {string} */ s) =>
      /^(completed|succeeded|delivered|approved|promoted|ok|closed)$/.test(s)
        ? wrap("green", s)
        : /^(failed|dead|rejected|cancelled|open|degraded)$/.test(s)
          ? wrap("red", s)
          : /^(running|queued|pending|retrying|delivering|half-open)$/.test(s)
            ? wrap("yellow", s)
            : s,
  };
}

/** Text of one cell: nothing for null, JSON for objects. */
export function cell(/** @type {unknown} */ value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** Cuts a cell to `max` visible characters with an ellipsis (uncoloured text only). */
export const truncate = (/** @type {string} */ text, /** @type {number} */ max) => (text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`);

/** Renders rows as aligned columns under upper-case headers; pure, so tests can compare strings. */
export function renderTable(/** @type {any[]} */ rows, /** @type {Column[]} */ columns, { maxCell = 60 } = {}) {
  const texts = rows.map((row) => columns.map((c) => truncate(cell(c.get(row)).replace(/\s+/g, " "), maxCell)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...texts.map((t) => visibleLength(/** @type {string} */ (t[i])))));
  const line = (/** @type {string[]} */ cells, /** @type {any} */ row) =>
    cells
      .map((text, i) => {
        const col = /** @type {Column} */ (columns[i]);
        const pad = " ".repeat(/** @type {number} */ (widths[i]) - visibleLength(text));
        const shown = row && col.color ? col.color(text, row) : text;
        return col.align === "right" ? pad + shown : i === cells.length - 1 ? shown : shown + pad;
      })
      .join("  ")
      .trimEnd();
  return [
    line(
      columns.map((c) => c.header.toUpperCase()),
      null,
    ),
    ...texts.map((t, i) => line(t, rows[i])),
  ].join("\n");
}

/** Renders `label: value` lines with the labels aligned. */
export function renderFields(/** @type {[string, unknown][]} */ fields) {
  const shown = fields.filter(([, v]) => v !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${cell(v)}`).join("\n");
}

/** "2026-05-03T10:00:00.123Z" → "2026-05-03 10:00:00" (UTC, as the server stores it). */
export const shortTime = (/** @type {string | null | undefined} */ iso) => (iso ? iso.replace("T", " ").replace(/(\.\d+)?Z$/, "") : "");
export const percent = (/** @type {number | null | undefined} */ x) => (x === null || x === undefined ? "" : `${(x * 100).toFixed(1)}%`);
export const millis = (/** @type {number | null | undefined} */ ms) => (ms === null || ms === undefined ? "" : ms < 10_000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

/** The printer a command gets: JSON mode prints only JSON on stdout; notes and progress go to stderr. */
export function createOutput(/** @type {{ json: boolean, stdout: NodeJS.WriteStream, stderr: NodeJS.WriteStream, env: Record<string, string | undefined> }} */ o) {
  const colors = paint(!o.json && colorEnabled(o.stdout, o.env));
  const progressOn = Boolean(o.stderr.isTTY) && !o.env.CI;
  let progressShown = false;
  const clearProgress = () => {
    if (progressShown) o.stderr.write("\r\x1b[2K");
    progressShown = false;
  };
  return {
    json: o.json,
    colors,
    interactive: Boolean(o.stdout.isTTY) && !o.json,
    /** The raw stdout, for bytes passed through as they are (a backup's NDJSON). */
    stdout: o.stdout,
    /** One line (or block) for people; nothing in JSON mode. */
    text(/** @type {string} */ s) {
      if (o.json) return;
      clearProgress();
      o.stdout.write(`${s}\n`);
    },
    /** The command's result: JSON in JSON mode, else what `human` renders. */
    result(/** @type {unknown} */ value, /** @type {(() => string) | undefined} */ human) {
      clearProgress();
      if (o.json) o.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      else if (human) o.stdout.write(`${human()}\n`);
    },
    /** One event of a stream: one compact JSON object per line in JSON mode. */
    event(/** @type {unknown} */ value, /** @type {() => string} */ human) {
      clearProgress();
      o.stdout.write(`${o.json ? JSON.stringify(value) : human()}\n`);
    },
    table(/** @type {any[]} */ rows, /** @type {Column[]} */ columns, /** @type {unknown} */ raw = rows) {
      this.result(raw, () => (rows.length ? renderTable(rows, columns) : colors.wrap("dim", "(none)")));
    },
    /** A remark for people, on stderr, so stdout stays clean for pipes. */
    note(/** @type {string} */ s) {
      clearProgress();
      o.stderr.write(`${s}\n`);
    },
    /** A transient status line, only on a terminal. */
    progress(/** @type {string} */ s) {
      if (!progressOn) return;
      o.stderr.write(`\r\x1b[2K${s}`);
      progressShown = true;
    },
    clearProgress,
    /** Rewrites the last `lines` lines of stdout (a live table on a terminal). */
    redraw(/** @type {string} */ block, /** @type {number} */ previousLines) {
      clearProgress();
      if (previousLines > 0) o.stdout.write(`\x1b[${previousLines}A\x1b[0J`);
      o.stdout.write(`${block}\n`);
      return block.split("\n").length;
    },
  };
}
