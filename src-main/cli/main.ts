// CLI entry: global options, command dispatch, error reporting and exit codes.
// Exit codes: 0 ok, 1 error, 2 usage, 3 done with a warning (a backup's source changed while it
// was read), 20 scrub found invalid data, 130 interrupted.
import { appendFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { toEngineError } from '../services';
import { CliClient, followJob } from './client';
import { backy2Argv } from './backy2';
import { COMMANDS, UsageError, type CommandContext } from './commands';
import { S3_HELP, S3_OPTIONS, S3_VALUE_OPTIONS, s3Connection } from './s3';

export const EXIT = { ok: 0, error: 1, usage: 2, warning: 3, scrubInvalid: 20, interrupted: 130 } as const;

const VERSION = '0.1.0';
/** How long an interrupted command may take to stop by itself before the process quits. */
const INTERRUPT_GRACE_MS = 1000;

const GLOBAL_OPTIONS: NonNullable<ParseArgsConfig['options']> = {
  repo: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  'log-file': { type: 'string' },
  'passphrase-file': { type: 'string' },
  'key-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  /** backy2's global -m (machine output) before the command; commands without machine output ignore it */
  machine: { type: 'boolean', short: 'm' },
  ...S3_OPTIONS,
};

function mainHelp(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return [
    'usage: blockvault [--repo PATH] [-v] [-m] [--log-file FILE] <command> [options]',
    '',
    'The repository comes from --repo PATH (or s3://BUCKET/PREFIX) or the BLOCKVAULT_REPO environment variable.',
    `S3 repositories: ${S3_HELP}.`,
    'An encrypted repository opens with --key-file FILE, --passphrase-file FILE, BLOCKVAULT_PASSPHRASE or a prompt.',
    '',
    'commands:',
    ...names.map((name) => `  ${name.padEnd(width)}  ${COMMANDS[name].summary}`),
    '',
    'Run "blockvault <command> --help" for a command\'s options.',
    'Exit codes: 0 ok, 1 error, 2 usage error, 3 done with a warning (a backup\'s source changed while it was read), 20 scrub found invalid data, 130 interrupted.',
  ].join('\n');
}

function commandHelp(name: string): string {
  const command = COMMANDS[name];
  return [`usage: blockvault ${command.usage}`, '', command.summary, '', `global options: --repo PATH, -v/--verbose, --log-file FILE, --passphrase-file FILE, --key-file FILE, -h/--help; ${S3_HELP}`].join('\n');
}

/** Index of the command word: the first argument that is neither an option nor its value. */
function findCommand(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--repo' || arg === '--log-file' || arg === '--passphrase-file' || arg === '--key-file' || S3_VALUE_OPTIONS.includes(arg)) { i++; continue; }
    if (!arg.startsWith('-')) return i;
  }
  return -1;
}

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/**
 * `--grace-seconds -5` as `--grace-seconds=-5`: parseArgs would call a value that starts
 * with a dash ambiguous; the option's own check then says what is wrong with it.
 */
function attachNegativeValues(args: string[], options: ParseArgsConfig['options']): string[] {
  const result: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const long = arg.startsWith('--') ? arg.slice(2) : undefined;
    const short = !long && /^-[A-Za-z]$/.test(arg) ? Object.entries(options ?? {}).find(([, o]) => o.short === arg[1])?.[0] : undefined;
    const option = long ?? short;
    if (option && options?.[option]?.type === 'string' && /^-\d/.test(args[i + 1] ?? '')) {
      result.push(`--${option}=${args[i + 1]}`);
      i++;
    } else {
      result.push(arg);
    }
  }
  return result;
}

export async function runCli(rawArgv: string[], io: CliIo = { stdout: (t) => process.stdout.write(`${t}\n`), stderr: (t) => process.stderr.write(`${t}\n`) }): Promise<number> {
  const argv = backy2Argv(rawArgv, COMMANDS);
  const commandIndex = findCommand(argv);
  const name = commandIndex >= 0 ? argv[commandIndex] : undefined;
  const command = name ? COMMANDS[name] : undefined;
  let verbose = argv.includes('-v') || argv.includes('--verbose');
  let logFile: string | undefined;
  const log = (text: string): void => {
    if (logFile) {
      try { appendFileSync(logFile, `${new Date().toISOString()} ${text}\n`); } catch { /* logging must not fail the command */ }
    }
  };
  const err = (text: string): void => { io.stderr(text); log(text); };
  if (!command) {
    if (argv.includes('--version') || argv.includes('-V')) { io.stdout(VERSION); return EXIT.ok; }
    if (!name && (argv.includes('--help') || argv.includes('-h') || argv.length === 0)) { io.stdout(mainHelp()); return argv.length === 0 ? EXIT.usage : EXIT.ok; }
    err(name ? `blockvault: unknown command "${name}"\n\n${mainHelp()}` : mainHelp());
    return EXIT.usage;
  }
  const options = { ...GLOBAL_OPTIONS, ...command.options };
  const rest = attachNegativeValues([...argv.slice(0, commandIndex), ...argv.slice(commandIndex + 1)], options);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (error) {
    err(`blockvault ${name}: ${(error as Error).message}\n${commandHelp(name!)}`);
    return EXIT.usage;
  }
  const values = parsed.values as CommandContext['values'];
  const str = (key: string): string | undefined => (typeof values[key] === 'string' ? (values[key] as string) : undefined);
  if (values.help) { io.stdout(commandHelp(name!)); return EXIT.ok; }
  verbose = Boolean(values.verbose);
  logFile = typeof values['log-file'] === 'string' ? values['log-file'] : undefined;
  if (logFile) {
    try {
      appendFileSync(logFile, '');
    } catch (error) {
      const file = logFile;
      logFile = undefined;
      err(`blockvault ${name}: --log-file ${file}: cannot write there (${(error as NodeJS.ErrnoException).code === 'ENOENT' ? `folder ${dirname(file)} does not exist` : (error as NodeJS.ErrnoException).code ?? 'error'})`);
      return EXIT.usage;
    }
  }
  const [min, max] = command.args;
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    err(`blockvault ${name}: expected ${min === max ? min : `${min} to ${max === Infinity ? 'more' : max}`} argument(s), got ${parsed.positionals.length}\n${commandHelp(name!)}`);
    return EXIT.usage;
  }

  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    err('blockvault: interrupted, stopping (press Ctrl-C again to quit at once)');
    controller.abort();
    if (command.finishesAfterInterrupt) return;
    // Every wait is cancellable, so commands end well within this; should one not, the process
    // still ends within 2 s (nothing becomes valid without its final commit; a new restore
    // target's temporary file is removed on exit).
    setTimeout(() => { err('blockvault: interrupted, quitting'); process.exit(EXIT.interrupted); }, INTERRUPT_GRACE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const client = new CliClient();
  const ctx: CommandContext = {
    values,
    positionals: parsed.positionals,
    out: (text) => { io.stdout(text); log(text); },
    err,
    debug: (text) => { if (verbose) err(`debug: ${text}`); else log(`debug: ${text}`); },
    log,
    signal: controller.signal,
    api: () => client.open(
      { path: str('repo') ?? process.env.BLOCKVAULT_REPO, keyFile: str('key-file'), passphraseFile: str('passphrase-file'), s3: s3Connection(values) },
      () => new UsageError('no repository: pass --repo PATH or set BLOCKVAULT_REPO'),
    ),
    bareApi: () => client.start().api,
    services: async () => { await ctx.api(); return client.start().services; },
    job: async (label, start) => {
      const api = await ctx.api();
      return followJob(client.start().services, api, label, controller.signal, () => start(api), log);
    },
  };
  log(`blockvault ${argv.join(' ')}`);
  try {
    const code = await command.run(ctx);
    return code ?? EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError) {
      err(`blockvault ${name}: ${error.message}\n${commandHelp(name!)}`);
      return EXIT.usage;
    }
    const engineError = toEngineError(error);
    err(`blockvault ${name}: error [${engineError.code}]: ${engineError.message}`);
    if (verbose) {
      for (let cause: unknown = error; cause; cause = (cause as Error).cause) err(String((cause as Error)?.stack ?? cause));
    }
    if (engineError.code === 'CANCELED') return EXIT.interrupted;
    return EXIT.error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await client.close();
  }
}
