#!/usr/bin/env node
// The `hybrid-access` command: dispatches to the HAG daemon (`hybrid-access hag ...`) and the CPE
// daemon (`hybrid-access cpe ...`). Each command's code is loaded only when it runs, so a build
// that carries one daemon (hag/deploy/build-bundle.sh ships the HAG alone) still starts.
// --help, --version and command-line errors follow src/command-line.ts.
import { helpText, report, usageError, versionLine } from './command-line.js';

const USAGE = `usage: hybrid-access <command> [options]
       hybrid-access <command> --help

commands:
  hag   the Hybrid Access Gateway (hybrid-access hag --config config/hag.yaml)
  cpe   the home router's daemon (hybrid-access cpe --config config/cpe.yaml)

options:
`;

/** Imports a command's module; a build without it says so instead of a stack trace. */
async function load<T>(imp: () => Promise<T>, cmd: string): Promise<T> {
  try {
    return await imp();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // Only the command's own module missing means "not in this build"; anything else is a fault.
    if (err.code !== 'ERR_MODULE_NOT_FOUND' || !err.message.includes(`/${cmd}/main.js'`)) throw e;
    process.stderr.write(`hybrid-access: this build does not include the ${cmd} command\n`);
    process.exit(2);
  }
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'hag':
      return (await load(() => import('../hag/main.js'), cmd)).runHag(rest);
    case 'cpe':
      return (await load(() => import('../cpe/main.js'), cmd)).runCpe(rest);
    case '-h':
    case '--help':
      process.stdout.write(helpText(USAGE));
      return 0;
    case '--version':
      process.stdout.write(versionLine('hybrid-access'));
      return 0;
    case undefined:
      return report(usageError('hybrid-access', 'no command given'));
    default:
      return report(
        usageError('hybrid-access', cmd.startsWith('-') ? `unknown option ${cmd}` : `unknown command ${cmd}`),
      );
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
