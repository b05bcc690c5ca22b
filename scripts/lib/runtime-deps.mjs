// Prints the package directories a one-file build needs at run time (relative to the repository root, one
// per line): the given root packages and, recursively, their dependencies as npm installed them
// (a nested node_modules wins over the top-level one, as in Node's lookup). Offline: reads only
// node_modules. Used by scripts/lib/build-bundle.sh.
//   usage: node scripts/lib/runtime-deps.mjs ROOT PKG...
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

const [root = process.cwd(), ...wanted] = process.argv.slice(2);
const found = new Map();

function locate(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dirname(dir) === dir) return undefined;
  }
}

const queue = wanted.map((name) => ({ name, from: root, optional: false }));
while (queue.length > 0) {
  const { name, from, optional } = queue.shift();
  const dir = locate(name, from);
  if (!dir) {
    if (optional) continue;
    throw new Error(
      `${name} (needed from ${relative(root, from) || 'the root'}) is not installed: npm install`,
    );
  }
  if (found.has(dir)) continue;
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  found.set(dir, pkg.name);
  for (const d of Object.keys(pkg.dependencies ?? {})) queue.push({ name: d, from: dir, optional: false });
  for (const d of Object.keys(pkg.optionalDependencies ?? {}))
    queue.push({ name: d, from: dir, optional: true });
}
const lines = [...found.keys()].map((d) => relative(root, d).split(sep).join('/')).sort();
process.stdout.write(`${lines.join('\n')}\n`);
