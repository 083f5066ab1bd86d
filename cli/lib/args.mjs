// The command table's grammar: find the command in argv, parse its flags with node:util parseArgs, render --help.
import { parseArgs } from "node:util";
import { UsageError } from "./errors.mjs";

/**
 * @typedef {{ type: "string" | "boolean", short?: string, multiple?: boolean, description?: string, value?: string }} OptionSpec
 * @typedef {{ client: import("./http.mjs").Client, out: import("./output.mjs").Output, settings: import("./config.mjs").Settings, env: Record<string, string | undefined>, name: string }} Context
 * @typedef {{ name: string, args?: string, summary: string, description?: string, options?: Record<string, OptionSpec>, examples?: string[], run: (ctx: Context, args: ParsedArgs) => Promise<number | void> }} Command
 * @typedef {{ values: Record<string, any>, positionals: Record<string, any> }} ParsedArgs
 */

/** Flags every command takes. */
export const GLOBAL_OPTIONS = /** @type {Record<string, OptionSpec>} */ ({
  url: { type: "string", value: "URL", description: "server (env TDEV_URL, else the login file, else http://localhost:8787)" },
  key: { type: "string", value: "KEY", description: "API key or JWT (env TDEV_API_KEY, else the login file)" },
  json: { type: "boolean", description: "print only JSON (one object per line for streams)" },
  help: { type: "boolean", short: "h", description: "show help" },
});

/** The command whose name matches the most leading words of argv (flags stop the match). */
export function findCommand(/** @type {Command[]} */ table, /** @type {string[]} */ argv) {
  const words = [];
  for (const a of argv) {
    if (a.startsWith("-")) break;
    words.push(a);
  }
  for (let n = Math.min(words.length, 3); n > 0; n--) {
    const name = words.slice(0, n).join(" ");
    const command = table.find((c) => c.name === name);
    if (command) return { command, rest: argv.slice(n), prefix: name };
  }
  return { command: undefined, rest: argv, prefix: words.join(" ") };
}

/** `<agent> [version] [files...]` → [{name, required, variadic}]. */
export function positionalSpec(/** @type {string | undefined} */ args) {
  return (args ?? "")
    .split(/\s+/)
    .filter((t) => /^[<[]/.test(t))
    .map((t) => ({ name: t.replace(/^[<[]|[>\]]$/g, "").replace(/\.\.\.$/, ""), required: t.startsWith("<"), variadic: t.includes("...") }));
}

/** parseArgs with this command's options plus the global ones; positionals named by the command's `args`. */
export function parseCommandArgs(/** @type {Command} */ command, /** @type {string[]} */ rest) {
  const specs = { ...GLOBAL_OPTIONS, ...command.options };
  /** @type {Record<string, { type: "string" | "boolean", short?: string, multiple?: boolean }>} */
  const options = {};
  for (const [name, s] of Object.entries(specs)) options[name] = { type: s.type, ...(s.short ? { short: s.short } : {}), ...(s.multiple ? { multiple: true } : {}) };
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(/** @type {Error} */ (err).message.replace(/\. To specify a positional.*$/s, "."), command.name);
  }
  const values = /** @type {Record<string, any>} */ (parsed.values);
  if (values.help) return { values, positionals: {} };
  const given = [...parsed.positionals];
  /** @type {Record<string, any>} */
  const positionals = {};
  for (const p of positionalSpec(command.args)) {
    if (p.variadic) positionals[p.name] = given.splice(0);
    else if (given.length) positionals[p.name] = given.shift();
    else if (p.required) throw new UsageError(`Missing <${p.name}>. Usage: tdev ${command.name} ${command.args ?? ""}`.trimEnd(), command.name);
  }
  if (given.length) throw new UsageError(`Unexpected argument: ${given[0]}`, command.name);
  return { values, positionals };
}

/** An integer flag, or a usage error naming it. */
export function intOption(/** @type {string | undefined} */ value, /** @type {string} */ flag, /** @type {string} */ command) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UsageError(`--${flag} must be an integer, not ${JSON.stringify(value)}`, command);
  return n;
}

/** A JSON flag, or a usage error naming it. */
export function jsonOption(/** @type {string | undefined} */ value, /** @type {string} */ flag, /** @type {string} */ command) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new UsageError(`--${flag} is not valid JSON: ${/** @type {Error} */ (err).message}`, command);
  }
}

const optionLine = (/** @type {string} */ name, /** @type {OptionSpec} */ s) => [
  `${s.short ? `-${s.short}, ` : "    "}--${name}${s.type === "string" ? ` ${s.value ?? "VALUE"}` : ""}${s.multiple ? " (repeatable)" : ""}`,
  s.description ?? "",
];

const columns = (/** @type {string[][]} */ rows, indent = "  ") => {
  const width = Math.max(...rows.map((r) => (r[0] ?? "").length));
  return rows.map(([a = "", b = ""]) => `${indent}${a.padEnd(width)}  ${b}`.trimEnd()).join("\n");
};

/** Help for one command. */
export function commandHelp(/** @type {Command} */ c) {
  const own = Object.entries(c.options ?? {});
  return [
    `${c.summary}\n`,
    `Usage: tdev ${c.name}${c.args ? ` ${c.args}` : ""}${own.length ? " [options]" : ""}`,
    ...(c.description ? [`\n${c.description}`] : []),
    ...(own.length ? ["\nOptions:", columns(own.map(([n, s]) => optionLine(n, s)))] : []),
    "\nGlobal options:",
    columns(Object.entries(GLOBAL_OPTIONS).map(([n, s]) => optionLine(n, s))),
    ...(c.examples?.length ? ["\nExamples:", ...c.examples.map((e) => `  ${e}`)] : []),
  ].join("\n");
}

/** Help for the whole table, or for the commands under a prefix such as "agents". */
export function tableHelp(/** @type {Command[]} */ table, prefix = "") {
  const shown = table.filter((c) => !prefix || c.name === prefix || c.name.startsWith(`${prefix} `));
  return [
    prefix ? `Commands under \`tdev ${prefix}\`:` : "tdev — the command-line client of T-Developer Edge.\n\nUsage: tdev <command> [arguments] [options]\n\nCommands:",
    columns(shown.map((c) => [`${c.name}${c.args ? ` ${c.args}` : ""}`, c.summary])),
    "\nEvery command takes --url, --key, --json and --help. Exit codes: 0 ok, 1 error, 2 usage, 4 authentication or permission, 5 a followed run, task, evolution or AWS deployment failed, 130 interrupted.",
    `Run \`tdev <command> --help\` for a command's options.`,
  ].join("\n");
}
