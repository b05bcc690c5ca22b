// A transpiled copy of cpe/ and src/ (same layout, ES modules) in a temporary folder, for system
// tests that run the CPE's small command-line tools (cpe/net, cpe/dhcp, cpe/probe) in namespaces
// without a full build: no type check, node_modules and the addon linked in. All of src/ goes, so
// that a module the tools come to import is never missing (CI failed when src/command-line.ts
// was new and the copies took only the TUN wrapper from src/).
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function walk(d: string): string[] {
  return readdirSync(d).flatMap((f) => {
    const p = join(d, f);
    if (f === 'node_modules' || f === 'build') return [];
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** Transpiles cpe/ and src/ into a new folder named `name-XXXX` under the system's tmpdir; returns it. */
export function stageCpe(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  for (const file of [...walk(join(REPO, 'cpe')), ...walk(join(REPO, 'src'))]) {
    const js = ts.transpileModule(readFileSync(file, 'utf8'), {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    }).outputText;
    const outFile = join(dir, relative(REPO, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, js);
  }
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  // The addon (raw sockets, link-layer sends) where the staged src/io/tun-tap/index.js looks for it.
  symlinkSync(join(REPO, 'src/io/tun-tap/build'), join(dir, 'src/io/tun-tap/build'));
  return dir;
}
