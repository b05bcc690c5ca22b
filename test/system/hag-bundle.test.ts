// The one-file HAG build (hag/deploy/build-bundle.sh): it unpacks itself into an empty directory
// outside the repository (no node_modules of ours on its lookup path), validates a config, and
// serves a SOCKS5 download in a namespace; a plain-TCP client shows the MPTCP fallback path too.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFlags } from '../../scripts/lib/node-flags.js';
import { Netns } from './lib/netns.js';
import { lines, once } from './lib/proc.js';

const ROOT = join(import.meta.dirname, '../..');
let ns: Netns;
let work: string;
let bundle: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'hag-bundle-'));
  bundle = join(work, 'hybrid-access');
  execFileSync('sh', [join(ROOT, 'hag/deploy/build-bundle.sh'), bundle], {
    cwd: ROOT,
    stdio: 'pipe',
    timeout: 240_000,
  });
}, 300_000);

afterAll(() => {
  ns?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('HAG one-file build', () => {
  it('passes the V8 flags of hag/deploy/node-flags, the ones bench-attacks measures', () => {
    const words = nodeFlags(ROOT, 'hag');
    expect(words).toContain('--single-threaded');
    const launcher = readFileSync(bundle, 'latin1').split('\n__PAYLOAD_FOLLOWS__\n')[0];
    expect(launcher).toContain(`FLAGS=\${HYBRID_ACCESS_NODE_FLAGS-"${words}"}`);
  });

  it('unpacks once into its home, prunes older HAG versions but the last one run, and checks a config', () => {
    const home = join(work, 'home');
    const env = { ...process.env, HYBRID_ACCESS_HOME: home };
    // What an upgrade finds: two older HAG versions (the last one run named in .hag-current), a CPE
    // version, a Node build and a directory the launcher did not make.
    const made = (name: string, marker?: string) => {
      mkdirSync(join(home, name), { recursive: true });
      if (marker !== undefined) writeFileSync(join(home, name, '.unpacked'), `${marker}\n`);
    };
    made('hag-0.0.1-old', 'hag');
    made('hag-0.0.2-prev', 'hag');
    made('hag-0.0.3-foreign');
    made('cpe-0.0.1-other', 'cpe');
    made('node-v24.22.3-linux-x64');
    writeFileSync(join(home, '.hag-current'), 'hag-0.0.2-prev\n');
    const dir = execFileSync(bundle, ['--unpack-only'], { env, encoding: 'utf8' }).trim();
    expect(dir.startsWith(join(home, 'hag-'))).toBe(true);
    expect(readdirSync(home).sort()).toEqual(
      [
        '.hag-current',
        'cpe-0.0.1-other',
        'hag-0.0.2-prev',
        'hag-0.0.3-foreign',
        basename(dir),
        'node-v24.22.3-linux-x64',
      ].sort(),
    );
    expect(readFileSync(join(home, '.hag-current'), 'utf8').trim()).toBe(basename(dir));
    expect(existsSync(join(dir, 'dist/src/cli.js'))).toBe(true);
    expect(existsSync(join(dir, 'node_modules/pino/package.json'))).toBe(true);
    expect(existsSync(join(dir, 'src/io/tun-tap/build/Release/tun_tap.node'))).toBe(true);
    const out = execFileSync(bundle, ['hag', '--config', join(dir, 'hag.example.yaml'), '--check'], {
      env,
      encoding: 'utf8',
    });
    expect(out).toMatch(/valid/);
    // The build's version and revision (package.json of the bundle), not "unknown".
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    expect(execFileSync(bundle, ['hag', '--version'], { env, encoding: 'utf8' })).toMatch(
      new RegExp(`^hybrid-access hag \\d+\\.\\d+\\.\\d+ \\(git ${head}, node v\\d+`),
    );
  });

  it('serves SOCKS5 in a namespace (plain TCP client: MPTCP fallback)', async () => {
    ns = new Netns('hagb');
    ns.add('c');
    ns.add('h');
    ns.veth('c', 'c0', 'h', 'h0');
    ns.sh('c', 'ip addr add 198.18.11.2/24 dev c0 && ip route add default via 198.18.11.1');
    ns.sh('h', 'ip addr add 198.18.11.1/24 dev h0 && sysctl -qw net.ipv4.ip_forward=1');
    const data = randomBytes(3_000_000);
    writeFileSync(join(work, 'blob'), data);
    ns.spawn('c', ['python3', '-m', 'http.server', '8000', '--bind', '198.18.11.2', '--directory', work]);
    ns.sh(
      'c',
      'for i in $(seq 100); do curl -s -o /dev/null http://198.18.11.2:8000/ && exit 0; sleep 0.1; done; exit 1',
    );
    writeFileSync(
      join(work, 'hag.yaml'),
      'tun: {name: hagb0}\nservice:\n  addresses: [198.18.110.1]\n  socks: {port: 1080}\naccess:\n  subscribers: [198.18.11.0/24]\n  allowDestinations: [198.18.0.0/15]\nlog: {connections: true}\n',
    );
    // The addon must come from the bundle itself, not from the repository.
    const env: NodeJS.ProcessEnv = { ...process.env, HYBRID_ACCESS_HOME: join(work, 'home') };
    delete env.HYBRID_ACCESS_TUN_ADDON;
    const hag = lines(ns.spawn('h', [bundle, 'hag', '--config', join(work, 'hag.yaml')], { env }));
    await once(hag, (l) => l.event === 'start' || l.event === 'start-failed', 20_000);
    expect(hag.seen.at(-1)?.event).toBe('start');
    ns.sh(
      'c',
      `curl -sS --max-time 30 --socks5 198.18.110.1:1080 http://198.18.11.2:8000/blob -o ${work}/got`,
    );
    expect(
      createHash('sha256')
        .update(readFileSync(join(work, 'got')))
        .digest('hex'),
    ).toBe(createHash('sha256').update(data).digest('hex'));
    const close = await once(hag, (l) => l.event === 'close', 10_000);
    expect(close.mptcp).toBe(false);
    expect(close.bytesDown).toBeGreaterThan(3_000_000);
  }, 60_000);
});
