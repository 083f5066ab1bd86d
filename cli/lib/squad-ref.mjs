// Squads are addressed by id (sqd_…) in the API; tdev also takes a squad's name and looks its id up.
import { CliError, EXIT } from "./errors.mjs";
import { pages } from "./http.mjs";

export const SQUAD_ID = /^sqd_[0-9a-f]{28}$/;

/** The squad id for an id or a unique name. */
export async function resolveSquad(/** @type {import("./http.mjs").Client} */ client, /** @type {string} */ ref) {
  if (SQUAD_ID.test(ref)) return ref;
  const matches = [];
  for await (const s of pages(client, "/squads")) if (s.name === ref) matches.push(s.id);
  if (matches.length === 1) return /** @type {string} */ (matches[0]);
  if (matches.length === 0) throw new CliError(`No squad named ${ref}.`, EXIT.error, ["`tdev squads ls` lists them."]);
  throw new CliError(`${matches.length} squads are named ${ref}; use an id: ${matches.join(", ")}`, EXIT.error);
}
