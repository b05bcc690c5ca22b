// The command-line conventions every command shares (hybrid-access, its hag and cpe commands, the
// tools): --help prints the usage on stdout and exits 0, --version prints the version and git
// revision and exits 0, and a bad command line is one line on stderr and exit 2 (the usage is a
// --help away). parseCommandLine decides without side effects; commandLine writes and exits.
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { buildInfo } from './daemon/build-info.js';

export interface CommandSpec<O extends ParseArgsOptionsConfig> {
  /** How the command is typed ("hybrid-access hag"): the error lines' prefix and --version. */
  command: string;
  /** The usage text; the --help and --version lines are appended to it. */
  usage: string;
  options: O;
  allowPositionals?: boolean;
}

type Values<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ options: O; allowPositionals: boolean; strict: true }>
>['values'];

export type CommandLine<O extends ParseArgsOptionsConfig> =
  | { ok: true; values: Values<O>; positionals: string[] }
  /** Nothing to run: print `stdout`/`stderr` and exit with `exit`. */
  | { ok: false; exit: 0 | 2; stdout?: string; stderr?: string };

const COMMON_HELP = `  -h, --help             print this help and exit
  --version              print the version and git revision and exit
`;

/** The line `--version` prints: "hybrid-access hag 0.1.0 (git cdb2385, node v24.22.3)". */
export function versionLine(command: string): string {
  const b = buildInfo();
  return `${command} ${b.version} (git ${b.revision}, node ${b.node})\n`;
}

/** The usage with the options every command has. */
export function helpText(usage: string): string {
  return `${usage.trimEnd()}\n${COMMON_HELP}`;
}

/** The one line for a command line that cannot run (`what` is e.g. "unknown option --foo"). */
export function usageError(command: string, what: string): { ok: false; exit: 2; stderr: string } {
  return { ok: false, exit: 2, stderr: `${command}: ${what} (see ${command} --help)\n` };
}

/** node:util's parse errors, shortened to what was wrong. */
function describe(e: NodeJS.ErrnoException): string {
  const quoted = /'([^']+)'/.exec(e.message)?.[1] ?? '';
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${quoted}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${quoted}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return e.message.split('\n')[0].replace(/\.$/, '').toLowerCase();
    default:
      return e.message.split('\n')[0];
  }
}

export function parseCommandLine<O extends ParseArgsOptionsConfig>(
  argv: string[],
  spec: CommandSpec<O>,
): CommandLine<O> {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...spec.options, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } },
      allowPositionals: spec.allowPositionals ?? false,
      strict: true,
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (!err.code?.startsWith('ERR_PARSE_ARGS')) throw e;
    return usageError(spec.command, describe(err));
  }
  if (parsed.values.help) return { ok: false, exit: 0, stdout: helpText(spec.usage) };
  if (parsed.values.version) return { ok: false, exit: 0, stdout: versionLine(spec.command) };
  const { help: _h, version: _v, ...values } = parsed.values;
  return { ok: true, values: values as Values<O>, positionals: parsed.positionals };
}

/** Prints what a command line that does not run says, and returns its exit code. */
export function report(r: { exit: number; stdout?: string; stderr?: string }): number {
  if (r.stdout) process.stdout.write(r.stdout);
  if (r.stderr) process.stderr.write(r.stderr);
  return r.exit;
}

/** For the tools: the parsed command line, or the process exits after --help, --version or an error. */
export function commandLine<O extends ParseArgsOptionsConfig>(
  argv: string[],
  spec: CommandSpec<O>,
): { values: Values<O>; positionals: string[] } {
  const r = parseCommandLine(argv, spec);
  if (!r.ok) process.exit(report(r));
  return r;
}
