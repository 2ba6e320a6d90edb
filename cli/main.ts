/**
 * `tiergate`: the admin CLI, a thin client of the gateway's admin HTTP API.
 * Exit codes: 0 success, 1 API, network or input failure, 2 bad command line.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { AdminClient, ApiError, NetworkError, normaliseBaseUrl } from '../shared/admin-client/client.js';
import {
  type CredentialSource,
  CredentialsError,
  defaultCredentialSource,
} from '../shared/admin-client/sigv4.js';
import { COMMANDS, type Command, GROUPS, InputError, type Options, usageLine } from './commands.js';
import { terminalSafe, UsageError } from './format.js';
import { didYouMean } from './suggest.js';

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
  /** Reads all of standard input (for `tiers publish -`); injectable for tests. */
  readStdin?: () => Promise<string>;
  /** AWS credentials for SigV4; by default the env's static keys or the SDK's default chain. */
  credentials?: CredentialSource;
}

const DEFAULT_PORT = '8787';

const GLOBAL_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

// One union of every command's options parses any command line (an option with no metavar is a
// flag, the others take a value); afterwards each given option is checked against its command.
const COMMAND_OPTIONS: Record<string, { type: 'string' | 'boolean' }> = Object.fromEntries(
  COMMANDS.flatMap((c) => Object.entries(c.options)).map(([name, [metavar]]) => [
    name,
    { type: metavar === '' ? ('boolean' as const) : ('string' as const) },
  ]),
);
const ALL_OPTIONS = { ...COMMAND_OPTIONS, ...GLOBAL_OPTIONS };

/** The words that may come first: command groups, single-word commands and `help`. */
const FIRST_WORDS = ['help', ...GROUPS, ...COMMANDS.filter((c) => !c.name.includes(' ')).map((c) => c.name)];
const quoteOption = (name: string) => `'--${name}'`;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => usageLine(c).length - 'tiergate '.length));
  const commands = COMMANDS.map(
    (c) => `  ${usageLine(c).slice('tiergate '.length).padEnd(width)}  ${c.summary}`,
  );
  return [
    'tiergate: admin CLI for the Tiergate LLM gateway',
    '',
    'Usage: tiergate [global options] <command> [arguments]',
    '',
    'Commands:',
    ...commands,
    '',
    'Global options:',
    `  --url URL      admin API base URL (env TIERGATE_ADMIN_URL; default http://127.0.0.1:$PORT/admin,`,
    `                 PORT defaulting to ${DEFAULT_PORT}). A Lambda Function URL is signed with AWS SigV4.`,
    '  --token TOKEN  admin bearer token (env TIERGATE_ADMIN_TOKEN); not sent to Lambda Function URLs',
    '  --json         print the raw JSON response, for scripts',
    '  -h, --help     show help; after a command, the help for that command',
    '  --version      print the version',
    '',
    "Money is shown in USD with 6 decimals. Run 'tiergate <command> --help' for a command's options.",
  ].join('\n');
}

function commandHelp(command: Command): string {
  const entries = Object.entries(command.options).map(
    ([name, [metavar, description]]) => [`--${name} ${metavar}`, description] as const,
  );
  const width = Math.max(0, ...entries.map(([flag]) => flag.length));
  return [
    `Usage: ${usageLine(command)} [global options]`,
    '',
    `${command.summary}.${command.details ? ` ${command.details}` : ''}`,
    ...(entries.length > 0
      ? ['', 'Options:', ...entries.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`)]
      : []),
    '',
    "Global options: --url, --token, --json, --help. See 'tiergate --help'.",
  ].join('\n');
}

function groupHelp(group: string): string {
  const commands = COMMANDS.filter((c) => c.name.startsWith(`${group} `));
  const width = Math.max(...commands.map((c) => usageLine(c).length));
  return [
    `Usage: tiergate ${group} <subcommand>`,
    '',
    'Subcommands:',
    ...commands.map((c) => `  ${usageLine(c).padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

class HelpRequest {
  constructor(readonly text: string) {}
}

/** The command a list of positionals names, and the positionals left for its arguments. */
function resolveCommand(
  positionals: string[],
  help: boolean,
): { command: Command; args: string[] } | HelpRequest {
  const [first, second] = positionals;
  if (first === undefined) {
    if (help) return new HelpRequest(globalHelp());
    throw new UsageError('missing command');
  }
  if (first === 'help') return resolveCommand(positionals.slice(1), true);
  if (GROUPS.has(first)) {
    const command = second === undefined ? undefined : COMMANDS.find((c) => c.name === `${first} ${second}`);
    if (!command) {
      if (help && second === undefined) return new HelpRequest(groupHelp(first));
      const subcommands = COMMANDS.filter((c) => c.name.startsWith(`${first} `))
        .map((c) => c.name.split(' ')[1])
        .join(', ');
      const names = COMMANDS.filter((c) => c.name.startsWith(`${first} `)).map(
        (c) => c.name.split(' ')[1] ?? '',
      );
      throw new UsageError(
        second === undefined
          ? `missing subcommand for '${first}' (one of ${subcommands})`
          : `unknown subcommand '${first} ${second}' (one of ${subcommands})${didYouMean(second, names, (n) => `'${first} ${n}'`)}`,
        first,
      );
    }
    return help ? new HelpRequest(commandHelp(command)) : { command, args: positionals.slice(2) };
  }
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) throw new UsageError(`unknown command '${first}'${didYouMean(first, FIRST_WORDS)}`);
  return help ? new HelpRequest(commandHelp(command)) : { command, args: positionals.slice(1) };
}

interface CommandLine {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** The option names given, to check them against the command. */
  given: Set<string>;
}

/**
 * `--amount -5` would be read as a second option and refused with parseArgs' "ambiguous" text:
 * a value that looks like a negative number is joined to its option (`--amount=-5`), so the
 * option's own check says what is wrong with it.
 */
function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    const takesValue =
      name !== undefined &&
      Object.hasOwn(ALL_OPTIONS, name) &&
      ALL_OPTIONS[name as keyof typeof ALL_OPTIONS].type === 'string';
    if (takesValue && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

function parseCommandLine(argv: string[]): CommandLine {
  try {
    const parsed = parseArgs({
      args: joinNegativeValues(argv),
      options: ALL_OPTIONS,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
    return {
      values: parsed.values as Record<string, string | boolean | undefined>,
      positionals: parsed.positionals,
      given: new Set(parsed.tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : []))),
    };
  } catch (err) {
    throw new UsageError(parseArgsMessage(err as Error));
  }
}

/** parseArgs' messages run over several lines; the first sentence is the useful part. */
function parseArgsMessage(err: Error): string {
  const first = err.message.split('\n')[0] ?? err.message;
  const message = first.replace(/\. To specify a positional.*$/, '').replace(/\.$/, '');
  const unknown = /^Unknown option '--([^']+)'/.exec(message)?.[1];
  return unknown === undefined
    ? message
    : `${message}${didYouMean(unknown, Object.keys(ALL_OPTIONS), quoteOption)}`;
}

function helpHint(err: UsageError, positionals: string[]): string {
  const [first, second] = positionals;
  const topic = err.topic
    ? err.topic
    : first && GROUPS.has(first) && second
      ? `${first} ${second}`
      : first && COMMANDS.some((c) => c.name === first)
        ? first
        : undefined;
  return topic ? `Run 'tiergate ${topic} --help' for usage.` : "Run 'tiergate --help' for usage.";
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  // Everything printed goes through terminalSafe: a name or message cannot drive the terminal.
  const line = (write: (s: string) => void, text: string): void =>
    write(terminalSafe(text.endsWith('\n') ? text : `${text}\n`));
  let positionals: string[] = [];
  try {
    const parsed = parseCommandLine(argv);
    positionals = parsed.positionals;
    const values = parsed.values;

    if (values.version === true) {
      line(io.stdout, version());
      return 0;
    }
    const resolved = resolveCommand(positionals, values.help === true);
    if (resolved instanceof HelpRequest) {
      line(io.stdout, resolved.text);
      return 0;
    }
    const { command, args } = resolved;

    for (const name of parsed.given) {
      if (!(name in GLOBAL_OPTIONS) && !(name in command.options)) {
        const hint = didYouMean(name, Object.keys(command.options), quoteOption);
        throw new UsageError(`option '--${name}' is not valid for '${command.name}'${hint}`);
      }
    }
    if (args.length < command.args.length) {
      throw new UsageError(`missing ${command.args.slice(args.length).join(' ')} for '${command.name}'`);
    }
    if (args.length > command.args.length) {
      throw new UsageError(`unexpected argument '${args[command.args.length]}' for '${command.name}'`);
    }
    for (const [i, name] of command.args.entries()) {
      if ((args[i] ?? '').trim() === '') throw new UsageError(`${name} must not be empty`);
    }
    const options: Options = {};
    for (const name of Object.keys(command.options)) {
      const value = values[name];
      if (typeof value === 'string') options[name] = value;
      else if (value === true) options[name] = 'true';
    }

    const rawUrl =
      (values.url as string | undefined) ??
      (io.env.TIERGATE_ADMIN_URL || `http://127.0.0.1:${io.env.PORT || DEFAULT_PORT}/admin`);
    try {
      normaliseBaseUrl(rawUrl);
    } catch (err) {
      throw new UsageError(`--url: ${(err as Error).message}`);
    }
    const token = (values.token as string | undefined) ?? (io.env.TIERGATE_ADMIN_TOKEN || undefined);

    const context = {
      readStdin: io.readStdin ?? readAllStdin,
      readFile: (path: string) => readFile(path, 'utf8'),
    };
    // Built first: a bad argument is refused before anything is sent.
    const request = await command.build(args, options, context);
    const client = new AdminClient({
      baseUrl: rawUrl,
      ...(token ? { token } : {}),
      fetch: io.fetch ?? globalThis.fetch,
      credentials: io.credentials ?? defaultCredentialSource(io.env),
    });
    const send = (r: typeof request) => client.send(r);
    const data = command.run ? await command.run(send, args, options, context) : await send(request);

    if (values.json === true) {
      if (data !== undefined) line(io.stdout, JSON.stringify(data, null, 2));
      return 0;
    }
    let text: string;
    try {
      text = command.render(data, args, options);
    } catch (err) {
      // A server of another version may answer in a shape the table does not know.
      line(
        io.stderr,
        `tiergate: unexpected response shape (${(err as Error).message}); rerun with --json to see it`,
      );
      return 1;
    }
    line(io.stdout, text);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      const end = err.message.endsWith('?') ? '' : '.';
      line(io.stderr, `tiergate: ${err.message}${end} ${helpHint(err, positionals)}`);
      return 2;
    }
    if (err instanceof ApiError) {
      line(io.stderr, `tiergate: ${err.status}${err.code ? ` ${err.code}` : ''}: ${err.message}`);
      return 1;
    }
    if (err instanceof NetworkError || err instanceof InputError) {
      line(io.stderr, `tiergate: ${err.message}`);
      return 1;
    }
    if (err instanceof CredentialsError) {
      line(
        io.stderr,
        `tiergate: cannot load AWS credentials to sign the request: ${err.message.split('\n')[0]}`,
      );
      return 1;
    }
    line(io.stderr, `tiergate: unexpected error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

/** Runs the CLI with the process's arguments, streams and environment. */
export async function main(): Promise<void> {
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    env: process.env,
  });
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

// `tsx cli/main.ts` runs this file directly; cli/bin.js imports it and calls main() itself.
if (isEntryPoint()) void main();
