// The OpenWrt package (cpe/deploy/openwrt/build-ipk.sh): the .ipk built here unpacks with ar and
// tar into the tree an OpenWrt package has (control with its fields, conffiles, maintainer
// scripts, the procd init script with its reload and interface triggers, the UCI default config,
// the fw4 include, the LuCI view); the launcher it ships runs the daemon's --check on a UCI config
// from that tree; and the fw4 include is valid nftables in fw4's forward chain (nft -c in a
// namespace of this test) and lets the core's subflows out of cpe0 where fw4's policy drops the rest;
// the daemon from the package's tree on a UCI config whose primary line netifd runs (a stand-in
// ubus answers with netifd's status JSON): address and gateway from it, a LAN download through it,
// and a reload after netifd reports the line down.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCpeUci } from '../../cpe/openwrt/uci-config.js';
import { Netns, waitFor } from './lib/netns.js';
import { lines, once } from './lib/proc.js';

const ROOT = join(import.meta.dirname, '../..');
const INCLUDE = 'usr/share/nftables.d/chain-pre/forward/30-hybrid-access.nft';
let work: string;
let ipk: string;
let control: string;
let data: string;
const spaces: Netns[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ha-ipk-'));
  const out = execFileSync('sh', ['cpe/deploy/openwrt/build-ipk.sh', '--arch', 'x86_64', join(work, 'out')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 400_000,
  });
  ipk = join(work, 'out', readdirSync(join(work, 'out'))[0]);
  expect(out).toContain(ipk);
  for (const d of ['ar', 'control', 'data']) mkdirSync(join(work, d));
  execFileSync('ar', ['x', ipk], { cwd: join(work, 'ar') });
  control = join(work, 'control');
  data = join(work, 'data');
  execFileSync('tar', ['-xzf', join(work, 'ar/control.tar.gz'), '-C', control]);
  execFileSync('tar', ['-xzf', join(work, 'ar/data.tar.gz'), '-C', data]);
}, 420_000);

afterAll(() => {
  for (const n of spaces) n.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
/** The unpacked bundle's directory in the package, cpe-<version>. */
const unpacked = () => readdirSync(join(data, 'usr/lib/hybrid-access')).filter((d) => d.startsWith('cpe-'));

describe('the .ipk', () => {
  it('is an ar archive of debian-binary, control.tar.gz and data.tar.gz, root-owned', () => {
    expect(execFileSync('ar', ['t', ipk], { encoding: 'utf8' }).split('\n').filter(Boolean)).toEqual([
      'debian-binary',
      'control.tar.gz',
      'data.tar.gz',
    ]);
    expect(readFileSync(join(work, 'ar/debian-binary'), 'utf8')).toBe('2.0\n');
    for (const t of ['control.tar.gz', 'data.tar.gz']) {
      const listing = execFileSync('tar', ['-tvzf', join(work, 'ar', t), '--numeric-owner'], {
        encoding: 'utf8',
        maxBuffer: 16 << 20,
      });
      for (const line of listing.split('\n').filter(Boolean)) expect(line.split(/\s+/)[1]).toBe('0/0');
    }
  });

  it('has the control fields, conffiles and maintainer scripts opkg reads', () => {
    const fields = new Map(
      readFileSync(join(control, 'control'), 'utf8')
        .split('\n')
        .filter((l) => /^[A-Z][A-Za-z-]*: /.test(l))
        .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]),
    );
    expect(fields.get('Package')).toBe('hybrid-access');
    expect(fields.get('Version')).toMatch(/^\d+\.\d+\.\d+-[0-9a-z]+$/);
    expect(ipk.endsWith(`hybrid-access_${fields.get('Version')}_x86_64.ipk`)).toBe(true);
    expect(unpacked()).toEqual([`cpe-${fields.get('Version')}`]);
    expect(fields.get('Architecture')).toBe('x86_64');
    expect(fields.get('Section')).toBe('net');
    expect(fields.get('License')).toBe('Apache-2.0');
    for (const dep of ['node', 'ip-full', 'nftables', 'kmod-tun', 'kmod-nft-tproxy', 'kmod-nft-socket'])
      expect(fields.get('Depends')?.split(', ')).toContain(dep);
    const du = Number(execFileSync('du', ['-sb', data], { encoding: 'utf8' }).split('\t')[0]);
    expect(Number(fields.get('Installed-Size'))).toBe(du);
    expect(fields.get('Description')).toMatch(/Hybrid Access/);
    expect(readFileSync(join(control, 'conffiles'), 'utf8')).toBe('/etc/config/hybrid-access\n');
    const postinst = readFileSync(join(control, 'postinst'), 'utf8');
    expect(postinst).toContain('default_postinst "$0" "$@"');
    // fw4 takes the include, rpcd the plugin and ACL, at their reloads.
    expect(postinst).toContain('/etc/init.d/firewall reload');
    expect(postinst).toContain('/etc/init.d/rpcd reload');
    expect(readFileSync(join(control, 'prerm'), 'utf8')).toContain('default_prerm "$0" "$@"');
    for (const s of ['postinst', 'prerm', 'postrm']) {
      expect(mode(join(control, s))).toBe('755');
      execFileSync('sh', ['-n', join(control, s)]);
    }
  });

  it('unpacks into an OpenWrt tree: launcher, procd init, UCI default, fw4 include, LuCI view', () => {
    const want: Record<string, string> = {
      'usr/bin/hybrid-access': '755',
      'etc/init.d/hybrid-access': '755',
      'etc/config/hybrid-access': '600',
      [INCLUDE]: '644',
      'www/luci-static/resources/view/hybrid-access/status.js': '644',
      'usr/share/luci/menu.d/luci-app-hybrid-access.json': '644',
      'usr/share/rpcd/acl.d/luci-app-hybrid-access.json': '644',
      'usr/libexec/rpcd/luci.hybrid-access': '755',
    };
    for (const [p, m] of Object.entries(want)) expect(`${p} ${mode(join(data, p))}`).toBe(`${p} ${m}`);
    expect(unpacked()).toHaveLength(1);
    const [version] = unpacked();
    const home = join(data, 'usr/lib/hybrid-access', version);
    // The launcher's record of the current version is the package's: it has nothing to write.
    expect(readFileSync(join(data, 'usr/lib/hybrid-access/.cpe-current'), 'utf8')).toBe(`${version}\n`);
    for (const p of ['.unpacked', 'dist/src/cli.js', 'dist/cpe/openwrt/uci-config.js', 'node_modules/pino'])
      expect(readdirSync(join(home, p, '..'))).toContain(p.split('/').at(-1));
    // Only the package's init script: not the manual install's.
    expect(readdirSync(home)).not.toContain('hybrid-access-cpe.init');

    const init = readFileSync(join(data, 'etc/init.d/hybrid-access'), 'utf8');
    expect(init.split('\n')[0]).toBe('#!/bin/sh /etc/rc.common');
    expect(init).toMatch(/^USE_PROCD=1$/m);
    expect(init).toContain('procd_set_param command "$PROG" cpe --config "$CONF"');
    expect(init).toMatch(/^CONF=\/etc\/config\/hybrid-access$/m);
    expect(init).toContain('procd_add_reload_trigger hybrid-access');
    expect(init).toContain(
      'procd_add_interface_trigger "interface.*" "$network" /etc/init.d/hybrid-access reload',
    );
    expect(init).toContain('procd_send_signal hybrid-access main HUP');
    for (const s of [
      'etc/init.d/hybrid-access',
      'usr/libexec/rpcd/luci.hybrid-access',
      'usr/bin/hybrid-access',
    ])
      execFileSync('sh', ['-n', join(data, s)]);
    for (const j of [
      'usr/share/luci/menu.d/luci-app-hybrid-access.json',
      'usr/share/rpcd/acl.d/luci-app-hybrid-access.json',
    ])
      JSON.parse(readFileSync(join(data, j), 'utf8'));
    // A LuCI view is the body of a function (it ends in `return view.extend(...)`).
    const view = readFileSync(join(data, 'www/luci-static/resources/view/hybrid-access/status.js'), 'utf8');
    expect(() => new Function(view)).not.toThrow();
    expect(view).toContain("rpc.declare({ object: 'luci.hybrid-access', method: 'status' })");
  });

  it('ships the UCI default, which translates to a valid config where netifd knows the networks', () => {
    const uci = readFileSync(join(data, 'etc/config/hybrid-access'), 'utf8');
    expect(uci).toBe(readFileSync(join(ROOT, 'cpe/deploy/openwrt/files/hybrid-access.config'), 'utf8'));
    expect(uci).toMatch(/^\toption enabled '0'$/m);
    const r = parseCpeUci(uci, '/etc/config/hybrid-access', {
      netifd: (n) =>
        ({
          lan: { device: 'br-lan', addresses: ['198.18.5.1/24'] },
          wan: { device: 'eth1', addresses: [] },
          wwan: { device: 'wwan0', addresses: [] },
        })[n],
      interfaceExists: (n) => n !== 'cpe0',
    });
    expect(r.ok, JSON.stringify(!r.ok && r.issues)).toBe(true);
  });

  it("the shipped launcher runs the daemon's check of a UCI config from the tree", () => {
    const [version] = unpacked();
    const env = { ...process.env, HYBRID_ACCESS_HOME: join(data, 'usr/lib/hybrid-access') };
    const bin = join(data, 'usr/bin/hybrid-access');
    expect(execFileSync(bin, ['--unpack-only'], { env, encoding: 'utf8' }).trim()).toBe(
      join(data, 'usr/lib/hybrid-access', version),
    );
    // No netifd here: the default's networks cannot be read, and the check says so at the line.
    const def = spawnSync(bin, ['cpe', '--config', join(data, 'etc/config/hybrid-access'), '--check'], {
      env,
      encoding: 'utf8',
    });
    expect(def.status).toBe(2);
    expect(def.stderr).toMatch(
      /hybrid-access:\d+: hybrid-access\.lan\.network: netifd has no device or address for interface lan/,
    );
    // With devices named, in a namespace that has them: valid.
    const ns = new Netns('hpk');
    spaces.push(ns);
    ns.add('r');
    ns.sh('r', 'ip link add br-lan type veth peer name eth1');
    const cfg = join(work, 'hybrid-access');
    writeFileSync(
      cfg,
      `config lan 'lan'
\toption device 'br-lan'
\tlist address '198.18.5.1/24'
config hag 'hag'
\tlist address '198.18.100.1'
config uplink 'dsl'
\toption device 'eth1'
\toption address '198.18.11.2/24'
\toption gateway '198.18.11.1'
\toption role 'primary'
`,
    );
    const out = ns.sh(
      'r',
      `HYBRID_ACCESS_HOME='${env.HYBRID_ACCESS_HOME}' '${bin}' cpe --config '${cfg}' --check`,
    );
    expect(out).toBe(`${cfg}: valid\n`);
  });
});

describe('the fw4 include', () => {
  // The shape of fw4's forward chain (firewall4's ruleset template): its chain-pre includes come
  // before the established/related accept and the zones' jumps; the policy drops the rest.
  const fw4 = (include: string | undefined) => `table inet fw4 {
  chain forward {
    type filter hook forward priority filter; policy drop;
${include ? `    include "${include}"\n` : ''}    ct state established,related accept
    iifname "br-lan" jump forward_lan
  }
  chain forward_lan {
    accept
  }
}
`;

  it('is valid nftables inside fw4 forward chain (nft -c)', () => {
    const ns = new Netns('hfw');
    spaces.push(ns);
    ns.add('r');
    const file = join(work, 'fw4.nft');
    writeFileSync(file, fw4(join(data, INCLUDE)));
    ns.sh('r', `nft -c -f '${file}'`);
    writeFileSync(
      join(work, 'broken.nft'),
      readFileSync(join(data, INCLUDE), 'utf8').replace('counter accept', 'counter acept'),
    );
    writeFileSync(file, fw4(join(work, 'broken.nft')));
    expect(() => ns.sh('r', `nft -c -f '${file}'`)).toThrow(/syntax error/);
  });

  it("lets the core's new TCP connections out of cpe0, where fw4's policy drops them without it", () => {
    const ns = new Netns('hfx');
    spaces.push(ns);
    for (const n of ['core', 'r', 'net']) ns.add(n);
    ns.veth('core', 'c0', 'r', 'cpe0');
    ns.veth('r', 'wan', 'net', 'n0');
    ns.sh('core', 'ip addr add 198.18.230.2/24 dev c0 && ip route add default via 198.18.230.1');
    ns.sh('r', 'ip addr add 198.18.230.1/24 dev cpe0 && ip addr add 198.18.231.1/24 dev wan');
    ns.sh('r', 'sysctl -qw net.ipv4.ip_forward=1');
    ns.sh('net', 'ip addr add 198.18.231.2/24 dev n0 && ip route add default via 198.18.231.1');
    ns.spawn('net', ['python3', '-m', 'http.server', '8000', '--bind', '198.18.231.2', '--directory', work]);
    ns.sh(
      'net',
      'for i in $(seq 100); do curl -s -o /dev/null http://198.18.231.2:8000/ && exit 0; sleep 0.1; done; exit 1',
    );
    const get = () => {
      try {
        ns.sh('core', 'curl -sS -o /dev/null --max-time 2 http://198.18.231.2:8000/');
        return 'ok';
      } catch {
        return 'dropped';
      }
    };
    const file = join(work, 'fw4-live.nft');
    writeFileSync(file, fw4(undefined));
    ns.sh('r', `nft -f '${file}'`);
    expect(get()).toBe('dropped');
    writeFileSync(file, `flush ruleset\n${fw4(join(data, INCLUDE))}`);
    ns.sh('r', `nft -f '${file}'`);
    expect(get()).toBe('ok');
    expect(ns.sh('r', 'nft list chain inet fw4 forward')).toMatch(/iifname "cpe0" .*counter packets [1-9]/);
    // Only from cpe0: a new connection from the WAN side to the core stays dropped.
    ns.spawn('core', ['python3', '-m', 'http.server', '8001', '--bind', '198.18.230.2', '--directory', work]);
    ns.sh(
      'core',
      'for i in $(seq 100); do curl -s -o /dev/null http://198.18.230.2:8001/ && exit 0; sleep 0.1; done; exit 1',
    );
    expect(() => ns.sh('net', 'curl -sS -o /dev/null --max-time 2 http://198.18.230.2:8001/')).toThrow();
  });
});

describe('the daemon from the package on UCI, its line run by netifd', () => {
  it('takes address and gateway from netifd, carries a download, and follows netifd at a reload', async () => {
    const ns = new Netns('hnd');
    spaces.push(ns);
    for (const n of ['lan', 'cpe', 'net']) ns.add(n);
    ns.veth('lan', 'eth0', 'cpe', 'lan0');
    ns.veth('cpe', 'dsl0', 'net', 'd0');
    ns.sh('lan', 'ip addr add 198.18.232.2/24 dev eth0 && ip route add default via 198.18.232.1');
    // What netifd would have done: the line's address on its device (no default route in main).
    ns.sh('cpe', 'ip addr add 198.18.232.1/24 dev lan0 && ip addr add 198.18.233.2/24 dev dsl0');
    ns.sh('net', 'ip addr add 198.18.233.1/24 dev d0');
    writeFileSync(join(work, 'blob'), Buffer.alloc(1_000_000, 7));
    ns.spawn('net', ['python3', '-m', 'http.server', '8000', '--bind', '198.18.233.1', '--directory', work]);
    ns.sh(
      'net',
      'for i in $(seq 100); do curl -s -o /dev/null http://198.18.233.1:8000/ && exit 0; sleep 0.1; done; exit 1',
    );
    // The stand-in ubus: `ubus call network.interface.wan status` prints the file for wan.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'ubus'),
      `#!/bin/sh\n[ "$1" = call ] && [ "$3" = status ] || exit 1\nf="${work}/ubus-\${2#network.interface.}.json"\n[ -f "$f" ] || { echo 'Command failed: Not found' >&2; exit 4; }\ncat "$f"\n`,
    );
    chmodSync(join(bin, 'ubus'), 0o755);
    const wanUp = {
      up: true,
      l3_device: 'dsl0',
      proto: 'dhcp',
      device: 'dsl0',
      'ipv4-address': [{ address: '198.18.233.2', mask: 24 }],
      route: [{ target: '0.0.0.0', mask: 0, nexthop: '198.18.233.1', source: '198.18.233.2/32' }],
    };
    writeFileSync(join(work, 'ubus-wan.json'), JSON.stringify(wanUp));
    const suffix = `_o${ns.prefix.slice(3)}`;
    const cfg = join(work, 'hybrid-access-netifd');
    writeFileSync(
      cfg,
      `config daemon 'main'
\toption enabled '1'
\toption log_connections '1'
\toption drain_timeout '1s'
config lan 'lan'
\toption device 'lan0'
\tlist address '198.18.232.1/24'
config hag 'hag'
\tlist address '198.18.120.1'
\toption connect_timeout '1s'
\toption retry_after '1s'
config uplink 'dsl'
\toption network 'wan'
\toption role 'primary'
\toption probe_target '198.18.233.1'
\toption probe_interval '300ms'
\toption probe_timeout '300ms'
config tun 'tun'
\toption name 'cpeo0'
\toption prefix '198.18.234.0/24'
config intercept 'intercept'
\toption port '7072'
\toption suffix '${suffix}'
config status 'status'
\toption port '8082'
`,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HYBRID_ACCESS_HOME: join(data, 'usr/lib/hybrid-access'),
      PATH: `${bin}:${process.env.PATH}`,
    };
    delete env.HYBRID_ACCESS_TUN_ADDON;
    const proc = ns.spawn('cpe', [join(data, 'usr/bin/hybrid-access'), 'cpe', '--config', cfg], { env });
    const cpe = lines(proc);
    await once(cpe, (l) => l.event === 'start' || l.event === 'start-failed', 20_000);
    expect(
      cpe.seen.some((l) => l.event === 'start'),
      JSON.stringify(cpe.seen) + cpe.stderr.join('\n'),
    ).toBe(true);
    const taken = await once(cpe, (l) => l.event === 'uplink-netifd', 5000);
    expect(taken).toMatchObject({
      uplink: 'dsl',
      network: 'wan',
      address: '198.18.233.2',
      gateway: '198.18.233.1',
    });
    expect(ns.sh('cpe', 'ip route show table 200')).toContain('default via 198.18.233.1 dev dsl0');
    await once(cpe, (l) => l.event === 'uplink-up', 10_000);
    // No HAG: the LAN host's download goes direct from the address netifd gave, by its gateway.
    ns.sh('lan', `curl -sS --max-time 30 http://198.18.233.1:8000/blob -o ${work}/got`, 60_000);
    expect(readFileSync(join(work, 'got')).length).toBe(1_000_000);
    const open = await once(cpe, (l) => l.event === 'open', 5000);
    expect(open).toMatchObject({ path: 'direct', via: 'dsl' });
    const status = () =>
      JSON.parse(ns.sh('lan', 'curl -sS --max-time 5 http://198.18.232.1:8082/status.json')).uplinks[0];
    expect(status()).toMatchObject({ name: 'dsl', address: '198.18.233.2', usable: true });
    // netifd reports the line down (procd's interface trigger runs reload: SIGHUP).
    writeFileSync(
      join(work, 'ubus-wan.json'),
      JSON.stringify({ ...wanUp, up: false, 'ipv4-address': [], route: [] }),
    );
    proc.kill('SIGHUP');
    await once(cpe, (l) => l.event === 'uplink-netifd' && l.address === undefined, 5000);
    await once(cpe, (l) => l.event === 'reloaded', 5000);
    expect(status()).toMatchObject({ name: 'dsl', usable: false });
    expect(status().address).toBeUndefined();
    proc.kill('SIGTERM');
    await waitFor('CPE exit', () => cpe.exited !== null, 15_000);
    expect(cpe.exited).toBe(0);
    expect(ns.sh('cpe', 'nft list tables')).not.toContain('hybrid_access');
  }, 120_000);
});
