// The command line of a bench script: node:util parseArgs with the options it names, plus --help,
// which prints the script's usage, and a one-line error with that usage (exit 2) for an unknown
// option or a missing value, instead of parseArgs' stack trace.
import { type ParseArgsConfig, parseArgs } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The values (and positionals) of the command line; `usage` is printed for --help and errors. */
export function benchArgsWithPositionals<O extends Options>(
  usage: string,
  options: O,
  allowPositionals = false,
) {
  try {
    const r = parseArgs({ options: { ...options, help: { type: 'boolean' } } as O, allowPositionals });
    if ((r.values as { help?: boolean }).help) {
      console.log(`usage: ${usage}`);
      process.exit(0);
    }
    return r;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS')) throw e;
    const script = process.argv[1]?.split('/').pop()?.replace(/\.js$/, '') ?? 'bench';
    console.error(`${script}: ${(e as Error).message.split('\n')[0]}\nusage: ${usage}`);
    process.exit(2);
  }
}

/** The option values of the command line; see benchArgsWithPositionals. */
export function benchArgs<O extends Options>(usage: string, options: O) {
  return benchArgsWithPositionals(usage, options).values;
}
