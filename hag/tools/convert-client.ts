// A Convert (RFC 8803) client on our own MPTCP core, to try a HAG from a host: it runs the core
// on a TUN, opens an MPTCP connection to the HAG (and a second subflow with --join-from), sends
// the Convert header with a Connect TLV (and a Cookie TLV with --cookie) followed at once by an
// HTTP/1.0 GET, then reads the Convert reply (Error TLV or go-ahead) and the HTTP response. It
// prints JSON lines: ready, connected, reply, done (status, body bytes and sha256, per-subflow
// bytes, MIB). --raw HEX sends those bytes instead of a Convert header (malformed-input tests).
// --tfo-cache FILE keeps TCP Fast Open cookies (RFC 7413) across runs: without a cookie for the
// HAG the SYN asks for one; with one, the Convert header and the request ride in the SYN.
// --delay MS holds every packet for MS ms each way (a long path without netem).
// --policy SCHEDULER[:ID,...] adds the bonding policy TLV (src/convert/policy.ts): the scheduler
// the HAG is to use for the download and the address IDs of overflow subflows (the join is ID 1).
// Run as root in a network namespace whose kernel forwards the core's addresses:
//   node dist/hag/tools/convert-client.js --tun cv0 --addr 198.18.6.2 [--join-from 198.18.7.2] \
//     --hag 198.18.100.1:5124 --dst 198.18.3.2:8000 --path /file
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { commandLine } from '../../src/command-line.js';
import {
  type ConvertTlv,
  convertErrorName,
  decodeConvert,
  encodeConvert,
  encodePolicy,
  POLICY_TLV,
} from '../../src/convert/index.js';
import { TunDriver } from '../../src/io/tun-driver.js';
import { configureLink, Tun } from '../../src/io/tun-tap/index.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { SCHEDULER_NAMES, type SchedulerName } from '../../src/mptcp/sched/index.js';
import { TfoCookieCache } from '../../src/tcp/fastopen.js';
import { ConnStream } from '../../src/tcp/stream.js';
import { parseIp } from '../addr.js';
import { DelayedCore } from './delayed-core.js';

const { values: a } = commandLine(process.argv.slice(2), {
  command: 'convert-client',
  usage: `usage: convert-client --addr ADDRESS --hag HOST:PORT --dst HOST:PORT [--tun cv0] [--path /]
         [--join-from ADDRESS] [--cookie HEX] [--raw HEX] [--timeout MS] [--tfo-cache FILE] [--delay MS]
         [--policy SCHEDULER[:ID,...]]
  An RFC 8803 Convert client on the project's MPTCP core (see the top of hag/tools/convert-client.ts).
`,
  options: {
    tun: { type: 'string', default: 'cv0' },
    addr: { type: 'string' },
    'join-from': { type: 'string' },
    hag: { type: 'string' },
    dst: { type: 'string' },
    path: { type: 'string', default: '/' },
    cookie: { type: 'string' },
    raw: { type: 'string' },
    timeout: { type: 'string', default: '60000' },
    'tfo-cache': { type: 'string' },
    delay: { type: 'string', default: '0' },
    policy: { type: 'string' },
  },
});

function out(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function hostPort(s: string | undefined, what: string): { host: Uint8Array; port: number } {
  const m = s ? /^\[?([^\]]+)\]?:(\d+)$/.exec(s) : null;
  const host = m ? parseIp(m[1]) : undefined;
  if (!m || !host) throw new Error(`--${what} HOST:PORT`);
  return { host, port: Number(m[2]) };
}

const local = parseIp(a.addr ?? '');
if (!local) throw new Error("--addr ADDRESS (the core's own address)");
const hag = hostPort(a.hag, 'hag');
const joinFrom = a['join-from'] ? parseIp(a['join-from']) : undefined;

const cacheFile = a['tfo-cache'];
const tfoCache = cacheFile
  ? TfoCookieCache.fromJSON(existsSync(cacheFile) ? JSON.parse(readFileSync(cacheFile, 'utf8')) : [])
  : undefined;
const ep = new MptcpEndpoint({ fastOpen: { cache: tfoCache } });
const tun = Tun.open({ name: a.tun, mtu: 1500 });
configureLink(tun.name, { mtu: 1500, up: true });
// The kernel routes our addresses into the TUN; it forwards what we send.
for (const addr of [a.addr, a['join-from']].filter(Boolean) as string[]) {
  execFileSync('ip', ['route', 'replace', addr, 'dev', tun.name]);
}
const delay = Number(a.delay);
const driver = new TunDriver(tun, delay > 0 ? new DelayedCore(ep, delay) : ep).start();
out({ event: 'ready', tun: tun.name });

let first: Uint8Array;
if (a.raw !== undefined) first = Buffer.from(a.raw, 'hex');
else {
  const dst = hostPort(a.dst, 'dst');
  const tlvs: ConvertTlv[] = [
    { type: 'connect', port: dst.port, address: dst.host, tcpOptions: new Uint8Array() },
  ];
  if (a.cookie) tlvs.push({ type: 'cookie', cookie: Buffer.from(a.cookie, 'hex') });
  if (a.policy) {
    const [name, ids = ''] = a.policy.split(':');
    if (!(SCHEDULER_NAMES as readonly string[]).includes(name))
      throw new Error(`--policy: scheduler ${name} is not one of ${SCHEDULER_NAMES.join(', ')}`);
    const overflow = ids ? ids.split(',').map(Number) : [];
    const value = encodePolicy({ scheduler: name as SchedulerName, overflow });
    tlvs.push({ type: 'unknown', code: POLICY_TLV, value });
  }
  const req = Buffer.from(`GET ${a.path} HTTP/1.0\r\nHost: ${a.dst}\r\n\r\n`);
  // The request rides right behind the Convert header: the converter forwards it once connected.
  first = Buffer.concat([encodeConvert(tlvs), req]);
}

const t0 = performance.now();
const conn = ep.connect(t0, { local, remote: hag.host, remotePort: hag.port });
const stream = new ConnStream(conn, ep);
let buf = Buffer.alloc(0);
let replied = false;
let headerDone = false;
let status = 0;
let body = 0;
const hash = createHash('sha256');
const subflowSockets = new Set<(typeof conn.subflows)[number]['socket']>();

const initial = conn.subflows[0].socket;
const finish = (extra: Record<string, unknown>) => {
  for (const sf of conn.subflows) subflowSockets.add(sf.socket);
  if (cacheFile && tfoCache) writeFileSync(cacheFile, JSON.stringify(tfoCache));
  out({
    event: 'done',
    ...extra,
    status,
    bodyBytes: body,
    sha256: hash.digest('hex'),
    ms: Math.round(performance.now() - t0),
    mptcp: !conn.fallback,
    fastOpen: initial.fastOpen,
    synDataBytes: initial.synDataLen,
    subflows: [...subflowSockets].map((s) => ({
      local: s.tuple.local.join('.'),
      bytesIn: s.stats.bytesIn,
      bytesOut: s.stats.bytesOut,
    })),
    mib: ep.mib,
  });
  setTimeout(() => {
    driver.close();
    process.exit(0);
  }, 300);
};

setTimeout(() => {
  out({ event: 'error', message: `no end within ${a.timeout} ms`, received: buf.length, body, mib: ep.mib });
  process.exit(1);
}, Number(a.timeout)).unref();

stream.on('connect', () => {
  out({
    event: 'connected',
    mptcp: !conn.fallback,
    fastOpen: initial.fastOpen,
    ms: Math.round(performance.now() - t0),
  });
  if (joinFrom && !conn.fallback) {
    conn.whenFullyEstablished(() => {
      ep.join(performance.now(), conn, joinFrom, 1);
      ep.wake(conn);
    });
  }
});
stream.write(first);

stream.on('data', (d: Buffer) => {
  for (const sf of conn.subflows) subflowSockets.add(sf.socket);
  if (!replied) {
    buf = Buffer.concat([buf, d]);
    const r = decodeConvert(buf);
    if (r.kind === 'incomplete') return;
    replied = true;
    if (r.kind === 'error') {
      out({ event: 'reply', malformed: r.error.reason, hex: buf.toString('hex') });
      return;
    }
    const err = r.message.tlvs.find((t) => t.type === 'error');
    out({
      event: 'reply',
      ms: Math.round(performance.now() - t0),
      tlvs: r.message.tlvs.map((t) => t.type),
      error: err && err.type === 'error' ? { code: err.code, name: convertErrorName(err.code) } : undefined,
      supported: r.message.tlvs.flatMap((t) => (t.type === 'supportedTcpExtensions' ? t.kinds : [])),
    });
    d = buf.subarray(r.consumed);
    buf = Buffer.alloc(0);
  }
  if (!headerDone) {
    buf = Buffer.concat([buf, d]);
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    headerDone = true;
    status = Number(/^HTTP\/1\.\d (\d{3})/.exec(buf.subarray(0, end).toString('latin1'))?.[1] ?? 0);
    d = buf.subarray(end + 4);
    buf = Buffer.alloc(0);
  }
  body += d.length;
  hash.update(d);
});
stream.on('end', () => {
  stream.end();
  const wait = () => (conn.closed || conn.finished ? finish({}) : setTimeout(wait, 20));
  wait();
});
stream.on('error', (e) => finish({ reset: String(e.message) }));
