// The command line of a bench script: node:util parseArgs with the script's own config, plus
// --help, which prints the script's top comment (its role and usage line), and a one-line error
// (exit 2) for an unknown option or a missing value, instead of parseArgs' stack trace.
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** parseArgs(config) of the command line, with --help. */
export function benchArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  const script = process.argv[1] ?? 'bench';
  const name = script.replace(/^.*\//, '').replace(/\.[jt]s$/, '');
  if (process.argv.slice(2).includes('--help')) {
    console.log(topComment(script) || `${name}: no usage written`);
    process.exit(0);
  }
  try {
    return parseArgs(config);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS')) throw e;
    const why = (e as Error).message.split('. To specify')[0].split('\n')[0];
    console.error(`${name}: ${why} (--help for the usage)`);
    process.exit(2);
  }
}

/** The comment lines a script starts with, without their slashes. */
function topComment(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('//')) break;
    out.push(line.replace(/^\/\/ ?/, ''));
  }
  return out.join('\n');
}
