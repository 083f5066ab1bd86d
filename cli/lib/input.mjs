// A command's JSON input: --input JSON, --input-file FILE (or - for stdin), or piped stdin.
import { readFile } from "node:fs/promises";
import { text } from "node:stream/consumers";
import { UsageError } from "./errors.mjs";

/** Input options shared by run, task submit, workflows run and messages send. */
export const INPUT_OPTIONS = /** @type {const} */ ({
  input: { type: "string", value: "JSON", description: "input as JSON (a bare word is taken as a string)" },
  "input-file": { type: "string", value: "FILE", description: "read the input JSON from FILE (- for stdin)" },
});

/** JSON when it parses, else the text itself, so `--input hello` means "hello". */
export function parseLoose(/** @type {string} */ raw) {
  const trimmed = raw.trim();
  try {
    return JSON.parse(trimmed);
  } catch {
    return trimmed;
  }
}

/** Strict JSON from a file or stdin: a typo there should fail, not run with a string. */
function parseStrict(/** @type {string} */ raw, /** @type {string} */ where, /** @type {string} */ command) {
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new UsageError(`${where} is not valid JSON: ${/** @type {Error} */ (err).message}`, command);
  }
}

/**
 * The input value, or `undefined` when none was given. Piped stdin counts only when the caller
 * allows it and stdin is not a terminal (so `tdev run echo` at a prompt does not wait for typing).
 */
export async function readInput(
  /** @type {Record<string, any>} */ values,
  /** @type {string} */ command,
  /** @type {{ stdin?: NodeJS.ReadStream, fromStdin?: boolean }} */ o = {},
) {
  const stdin = o.stdin ?? process.stdin;
  if (values.input !== undefined && values["input-file"] !== undefined) throw new UsageError("Give --input or --input-file, not both.", command);
  if (values.input !== undefined) return parseLoose(values.input);
  const file = values["input-file"];
  if (file === "-") return parseStrict(await text(stdin), "stdin", command);
  if (file !== undefined) return parseStrict(await readFile(file, "utf8"), file, command);
  if (o.fromStdin && !stdin.isTTY) {
    const piped = await text(stdin);
    return piped.trim() ? parseStrict(piped, "stdin", command) : undefined;
  }
  return undefined;
}

/** Reads a JSON file a command was pointed at, naming the file when it is broken. */
export async function readJsonFile(/** @type {string} */ file, /** @type {string} */ command) {
  let raw;
  try {
    raw = await readFile(file, "utf8");
  } catch (err) {
    throw new UsageError(`Cannot read ${file}: ${/** @type {NodeJS.ErrnoException} */ (err).code ?? /** @type {Error} */ (err).message}`, command);
  }
  return parseStrict(raw, file, command);
}
