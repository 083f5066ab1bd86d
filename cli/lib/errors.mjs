// Exit codes and the two error types every command throws; tdev.mjs turns them into a message and a code.

/** The documented exit codes: scripts branch on these. */
export const EXIT = Object.freeze({ ok: 0, error: 1, usage: 2, auth: 4, failed: 5, interrupted: 130 });

/** A failure with a message for people and an exit code for scripts; never printed with a stack. */
export class CliError extends Error {
  /** @param {string} message @param {number} [exitCode] @param {string[]} [lines] extra lines shown under the message */
  constructor(message, exitCode = EXIT.error, lines = []) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
    this.lines = lines;
  }
}

/** Wrong arguments: exit 2, with a pointer to the command's --help. */
export class UsageError extends CliError {
  /** @param {string} message @param {string} [command] */
  constructor(message, command) {
    super(message, EXIT.usage, [`Run \`tdev ${command ? `${command} ` : ""}--help\` for usage.`]);
    this.name = "UsageError";
  }
}

/**
 * @typedef {{ type?: string, title?: string, status?: number, detail?: string, errors?: { path: string, message: string }[], requestId?: string, runId?: string, [k: string]: unknown }} Problem
 */

/** 401 and 403 are about who you are: exit 4, so scripts can tell them from other failures. */
export const exitCodeForStatus = (/** @type {number} */ status) => (status === 401 || status === 403 ? EXIT.auth : EXIT.error);

/** An application/problem+json answer (or any non-2xx), shown as its title and detail. */
export class ApiProblem extends CliError {
  /** @param {number} status @param {Problem} problem */
  constructor(status, problem) {
    const title = problem.title ?? `HTTP ${status}`;
    const lines = [
      ...(problem.detail ? [problem.detail] : []),
      ...(problem.errors ?? []).slice(0, 10).map((e) => `  ${e.path}: ${e.message}`),
      ...(problem.requestId && status >= 500 ? [`request id: ${problem.requestId}`] : []),
    ];
    super(title, exitCodeForStatus(status), lines);
    this.name = "ApiProblem";
    this.status = status;
    this.problem = problem;
  }
}

/** The one-screen text of any error: title, then detail lines; a stack only for real bugs under TDEV_DEBUG. */
export function describeError(/** @type {unknown} */ err, debug = false) {
  if (err instanceof CliError) return { text: [`error: ${err.message}`, ...err.lines].join("\n"), exitCode: err.exitCode };
  const text = debug && err instanceof Error && err.stack ? err.stack : `error: ${err instanceof Error ? err.message : String(err)}`;
  return { text, exitCode: EXIT.error };
}
