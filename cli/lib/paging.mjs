// List commands: --limit/--cursor flags, and a note when there is another page.
import { intOption } from "./args.mjs";

export const PAGE_OPTIONS = /** @type {const} */ ({
  limit: { type: "string", value: "N", description: "page size (1-100, default 20)" },
  cursor: { type: "string", value: "CURSOR", description: "nextCursor of the previous page" },
});

/** limit/cursor flags as a query; the server validates the range. */
export const pageQuery = (/** @type {Record<string, any>} */ values, /** @type {string} */ command) => ({
  limit: intOption(values.limit, "limit", command),
  cursor: values.cursor,
});

/** Tells people there is more, on stderr so piped output stays one page of JSON. */
export function morePages(/** @type {import("./output.mjs").Output} */ out, /** @type {{ nextCursor?: string | null }} */ page) {
  if (page.nextCursor && !out.json) out.note(`more: --cursor ${page.nextCursor}`);
}
