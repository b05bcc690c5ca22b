#!/usr/bin/env node
// The `hybrid-access` command: dispatches to the HAG daemon (`hybrid-access hag ...`) and the CPE
// daemon (`hybrid-access cpe ...`).
import { runCpe } from '../cpe/main.js';
import { runHag } from '../hag/main.js';

const USAGE = `usage: hybrid-access <command> [options]

commands:
  hag   the Hybrid Access Gateway (hybrid-access hag --config config/hag.yaml)
  cpe   the home router's daemon (hybrid-access cpe --config config/cpe.yaml)
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'hag':
      return runHag(rest);
    case 'cpe':
      return runCpe(rest);
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return cmd ? 0 : 2;
    default:
      process.stderr.write(`unknown command: ${cmd}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
