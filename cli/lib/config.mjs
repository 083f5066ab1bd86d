// Where tdev finds its server and key: --flag, then TDEV_URL / TDEV_API_KEY, then the file `tdev login` writes.
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { CliError, EXIT } from "./errors.mjs";

export const DEFAULT_URL = "http://localhost:8787";

/** @typedef {{ url?: string, key?: string }} ConfigFile */
/** @typedef {"flag" | "env" | "file" | "default" | "none"} Source */
/** @typedef {{ url: string, key: string | undefined, sources: { url: Source, key: Source }, configPath: string }} Settings */

/** ~/.config/tdev/config.json, or under $XDG_CONFIG_HOME when set (the XDG convention most CLIs follow). */
export function configPath(env = process.env) {
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || homedir(), ".config");
  return path.join(base, "tdev", "config.json");
}

/** Pure precedence: the first non-empty of flag, environment, file, default. */
export function resolveSettings(/** @type {{ flags: ConfigFile, env: Record<string, string | undefined>, file: ConfigFile, configPath?: string }} */ input) {
  const { flags, env, file } = input;
  /** @type {(candidates: [Source, string | undefined][]) => [Source, string | undefined]} */
  const pick = (candidates) => candidates.find(([, v]) => typeof v === "string" && v.length > 0) ?? ["none", undefined];
  const [urlSource, url] = pick([
    ["flag", flags.url],
    ["env", env.TDEV_URL],
    ["file", file.url],
    ["default", DEFAULT_URL],
  ]);
  const [keySource, key] = pick([
    ["flag", flags.key],
    ["env", env.TDEV_API_KEY],
    ["file", file.key],
  ]);
  return /** @type {Settings} */ ({
    url: normaliseUrl(/** @type {string} */ (url)),
    key,
    sources: { url: urlSource, key: keySource },
    configPath: input.configPath ?? "",
  });
}

/** Accepts "localhost:8787" or a trailing slash; refuses anything that is not http(s). */
export function normaliseUrl(/** @type {string} */ raw) {
  const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`;
  let parsed;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw new CliError(`Not a URL: ${raw}`, EXIT.usage);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new CliError(`The server URL must be http or https: ${raw}`, EXIT.usage);
  return parsed.origin + parsed.pathname.replace(/\/+$/, "");
}

/** The saved profile, or {} when there is none; a broken file is an error, not silently ignored. */
export async function readConfigFile(/** @type {string} */ file) {
  let text;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code === "ENOENT") return /** @type {ConfigFile} */ ({});
    throw err;
  }
  try {
    const data = JSON.parse(text);
    if (typeof data !== "object" || data === null || Array.isArray(data)) throw new Error("not an object");
    return /** @type {ConfigFile} */ ({
      ...(typeof data.url === "string" ? { url: data.url } : {}),
      ...(typeof data.key === "string" ? { key: data.key } : {}),
    });
  } catch (err) {
    throw new CliError(`Cannot read ${file}: ${/** @type {Error} */ (err).message}`, EXIT.error, ["Fix it, or run `tdev login` again to rewrite it."]);
  }
}

/** Writes the profile readable by its owner only (0600), in a 0700 folder: it holds a secret. */
export async function writeConfigFile(/** @type {string} */ file, /** @type {ConfigFile} */ config) {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600); // writeFile keeps the mode of a file that already existed
}

export const removeConfigFile = (/** @type {string} */ file) => rm(file, { force: true });

/** Settings for this invocation. */
export async function loadSettings(/** @type {ConfigFile} */ flags, env = process.env) {
  const file = configPath(env);
  return resolveSettings({ flags, env, file: await readConfigFile(file), configPath: file });
}
