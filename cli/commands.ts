/**
 * The admin commands, by group (cli/commands/*): for each, its usage, the request it sends and
 * how its answer is shown. Building the request validates the arguments, so nothing malformed
 * reaches the server.
 */
import type { Command } from './command-kit.js';
import { ACCOUNT_COMMANDS } from './commands/accounts.js';
import { CATALOG_COMMANDS } from './commands/catalog.js';
import { REPORT_COMMANDS } from './commands/reports.js';
import { ROUTING_COMMANDS } from './commands/routing.js';

export { type BuildContext, type Command, InputError, type Options } from './command-kit.js';

export const COMMANDS: readonly Command[] = [
  ...ACCOUNT_COMMANDS,
  ...CATALOG_COMMANDS,
  ...REPORT_COMMANDS,
  ...ROUTING_COMMANDS,
];

/** The groups that have subcommands, e.g. "accounts". */
export const GROUPS: ReadonlySet<string> = new Set(
  COMMANDS.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0] ?? ''),
);

export function usageLine(command: Command): string {
  const options = Object.entries(command.options).map(([name, [metavar]]) => {
    const flag = metavar === '' ? `--${name}` : `--${name} ${metavar}`;
    return command.required?.includes(name) ? flag : `[${flag}]`;
  });
  return ['tiergate', command.name, ...command.args, ...options].join(' ');
}
