// What build of the product is running, for `hybrid_access_build_info`: the version from the
// nearest hybrid-access package.json above this file (the repository's, or the one a one-file
// build writes with its `revision`) or else above the working directory (a tsc build elsewhere
// run from the checkout), the git revision (the build's, else `git rev-parse` of that checkout,
// else "unknown") and the Node version. Read once per process.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetricFamily } from './exposition.js';

export interface BuildInfo {
  version: string;
  revision: string;
  node: string;
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  cached ??= readBuildInfo(dirname(fileURLToPath(import.meta.url)), process.cwd());
  return cached;
}

type Pkg = { name?: string; version?: string; revision?: string };

/** The build info as seen from `dirs`, the first that has one above it (exported for tests). */
export function readBuildInfo(...dirs: string[]): BuildInfo {
  let found: { pkg: Pkg; root: string } | undefined;
  for (const dir of dirs) {
    found = findPackage(dir);
    if (found) break;
  }
  const revision = found?.pkg.revision ?? (found && gitRevision(found.root)) ?? 'unknown';
  const pkg = found?.pkg;
  let version = pkg?.version ?? 'unknown';
  // A one-file build's version carries its revision (0.1.0-1a2b3c4): the label keeps them apart.
  if (version.endsWith(`-${revision}`)) version = version.slice(0, -revision.length - 1);
  return { version, revision, node: process.version };
}

function findPackage(dir: string): { pkg: Pkg; root: string } | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const f = join(d, 'package.json');
    if (existsSync(f)) {
      const pkg = JSON.parse(readFileSync(f, 'utf8')) as Pkg;
      if (pkg.name === 'hybrid-access') return { pkg, root: d };
    }
    if (dirname(d) === d) return undefined;
  }
}

function gitRevision(dir: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: dir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 2000,
    }).trim();
  } catch {
    return undefined;
  }
}

/** `hybrid_access_build_info{version,revision,node,daemon} 1`, the usual info-metric shape. */
export function buildInfoFamily(daemon: 'cpe' | 'hag'): MetricFamily {
  const b = buildInfo();
  return new MetricFamily(
    'hybrid_access_build_info',
    'gauge',
    'The running build: version, git revision, Node version and which daemon; always 1.',
  ).set({ version: b.version, revision: b.revision, node: b.node, daemon }, 1);
}
