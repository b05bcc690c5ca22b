// Lists the npm packages the HAG needs at run time: the closure of `pino` and `yaml` over their
// dependencies as installed in node_modules (npm's nested node_modules included), one directory
// per line, relative to the repository root. Used by build-bundle.sh; no network, no registry.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = process.argv[2] ?? process.cwd();
const roots = ['pino', 'yaml'];
const seen = new Set();

/** Node's lookup: from `fromDir` up through each node_modules to the root's. */
function resolvePkg(name, fromDir) {
  let dir = fromDir;
  for (;;) {
    const cand = join(dir, 'node_modules', name);
    if (existsSync(join(cand, 'package.json'))) return cand;
    if (dir === root || dirname(dir) === dir) return undefined;
    dir = dirname(dir);
  }
}

function visit(pkgDir) {
  if (seen.has(pkgDir)) return;
  seen.add(pkgDir);
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
    const d = resolvePkg(dep, pkgDir);
    if (d) visit(d);
    else if (!pkg.optionalDependencies?.[dep])
      throw new Error(`${pkg.name}: dependency ${dep} not installed`);
  }
}

for (const r of roots) {
  const d = resolvePkg(r, root);
  if (!d) throw new Error(`${r} is not installed: run npm install`);
  visit(d);
}
for (const d of [...seen].sort()) process.stdout.write(`${relative(root, d)}\n`);
