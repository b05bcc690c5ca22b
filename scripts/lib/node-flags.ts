// The V8 flags a daemon's one-file build passes to node (cpe/deploy/node-flags,
// hag/deploy/node-flags: the words of the lines that do not start with '#', as
// scripts/lib/build-bundle.sh reads them), for the benchmarks and tests that start it as deployed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The words of `role`'s deploy/node-flags in the repository at `root`, joined by spaces. */
export function nodeFlags(root: string, role: 'cpe' | 'hag'): string {
  return readFileSync(join(root, role, 'deploy/node-flags'), 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join(' ')
    .trim();
}
