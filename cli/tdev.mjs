#!/usr/bin/env node
// tdev — the command-line client. A table of commands (one module per area), parsed with node:util parseArgs.
// Plain ESM with JSDoc types: it runs from a fresh clone with `npx tdev`, no build step (cli/tsconfig.json checks it).
import { agentCommands } from "./commands/agents.mjs";
import { awsCommands } from "./commands/aws.mjs";
import { backupCommands } from "./commands/backup.mjs";
import { evaluationCommands } from "./commands/evaluation.mjs";
import { evolutionCommands } from "./commands/evolution.mjs";
import { keyCommands } from "./commands/keys.mjs";
import { messagingCommands } from "./commands/messaging.mjs";
import { runCommands } from "./commands/runs.mjs";
import { sessionCommands } from "./commands/session.mjs";
import { squadCommands } from "./commands/squads.mjs";
import { workflowCommands } from "./commands/workflows.mjs";
import { commandHelp, findCommand, parseCommandArgs, tableHelp } from "./lib/args.mjs";
import { loadSettings } from "./lib/config.mjs";
import { ApiProblem, describeError, EXIT, UsageError } from "./lib/errors.mjs";
import { createClient } from "./lib/http.mjs";
import { createOutput } from "./lib/output.mjs";

/** Every command, in the order `tdev --help` lists them. */
export const COMMANDS = [
  ...sessionCommands,
  ...agentCommands,
  ...runCommands,
  ...squadCommands,
  ...workflowCommands,
  ...messagingCommands,
  ...evaluationCommands,
  ...evolutionCommands,
  ...keyCommands,
  ...awsCommands,
  ...backupCommands,
];

/** Runs one invocation and returns its exit code; never throws. */
export async function main(argv = process.argv.slice(2), io = { stdout: process.stdout, stderr: process.stderr, env: process.env }) {
  const { stdout, stderr, env } = io;
  const { command, rest, prefix } = findCommand(COMMANDS, argv);
  try {
    if (!command) {
      const topLevel = prefix === "" || prefix === "help";
      if (topLevel || COMMANDS.some((c) => c.name.startsWith(`${prefix} `))) {
        const wantedHelp = topLevel || argv.includes("--help") || argv.includes("-h");
        (wantedHelp ? stdout : stderr).write(`${tableHelp(COMMANDS, topLevel ? "" : prefix)}\n`);
        return wantedHelp ? EXIT.ok : EXIT.usage;
      }
      throw new UsageError(`Unknown command: ${prefix}`);
    }
    const args = parseCommandArgs(command, rest);
    if (args.values.help) {
      stdout.write(`${commandHelp(command)}\n`);
      return EXIT.ok;
    }
    const settings = await loadSettings({ url: args.values.url, key: args.values.key }, env);
    const out = createOutput({ json: Boolean(args.values.json), stdout, stderr, env });
    const client = createClient({ url: settings.url, key: settings.key });
    const code = await command.run({ client, out, settings, env, name: command.name }, args);
    return code ?? EXIT.ok;
  } catch (err) {
    const { text, exitCode } = describeError(err, Boolean(env.TDEV_DEBUG));
    stderr.write(`${text}\n`);
    if (err instanceof ApiProblem && err.status === 401) stderr.write("Set TDEV_API_KEY, pass --key, or run `tdev login`.\n");
    return exitCode;
  }
}

// Only when run as the bin, not when a test imports COMMANDS.
const invoked = process.argv[1] && import.meta.url === (await import("node:url")).pathToFileURL((await import("node:fs")).realpathSync(process.argv[1])).href;
// Exit explicitly: idle keep-alive sockets must not hold the process open (stdout to pipes and files is synchronous on Linux).
if (invoked) process.exit(await main());
