// What build this is: the package version and the git revision it was built from, for every
// command's --version and the metrics' build info. A one-file release carries both in its
// package.json (written by the build-bundle scripts); a development tree has the version there
// and asks git for the revision once.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  version: string;
  /** Short git commit hash, or "unknown" when neither the package nor git knows it. */
  revision: string;
}

let cached: BuildInfo | undefined;

/** The project's package.json: the nearest one named hybrid-access above this module. */
function findPackage(): { dir: string; pkg: { version?: string; revision?: string } } | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8'));
      if (pkg.name === 'hybrid-access') return { dir, pkg };
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

function gitRevision(dir: string): string | undefined {
  if (!existsSync(join(dir, '.git'))) return undefined;
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const found = findPackage();
  cached = {
    version: found?.pkg.version ?? 'unknown',
    revision: found?.pkg.revision ?? (found && gitRevision(found.dir)) ?? 'unknown',
  };
  return cached;
}

/** The line `--version` prints: "hybrid-access hag 0.1.0 (git cdb2385, node v24.22.3)". */
export function versionLine(command: string): string {
  const b = buildInfo();
  return `${command} ${b.version} (git ${b.revision}, node ${process.version})\n`;
}
