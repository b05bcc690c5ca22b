// The CPE's inbound forwarder (cpe/daemon/inbound.ts) with the HAG played on stand-in connections
// (the control connection and each attach connection) and the forward's LAN host on loopback: a
// burst of INCOMINGs opens at most intercept.maxConnections LAN sockets (those still connecting
// count; the rest are answered REJECT cpe-busy), an INCOMING whose LAN connect completes after
// stop() opens no attach connection (its LAN socket is reset), and an attach connection not
// established within hag.connectTimeout gives its LAN connection up (REJECT to the HAG).
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type CpeConfig, parseCpeConfig } from '../../cpe/daemon/config.js';
import type { HagLink } from '../../cpe/daemon/hag-link.js';
import { InboundForwarder } from '../../cpe/daemon/inbound.js';
import type { Uplinks } from '../../cpe/daemon/uplinks.js';
import { formatIssues } from '../../src/config/index.js';
import { encodeInbound, REJECT_REASON } from '../../src/inbound/index.js';
import type { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import type { ClientPathManager } from '../../src/mptcp/pm/client.js';
import { PipeConn } from './lib/pipe-conn.js';

const known = new Set(['lan0', 'dsl0']);
const yaml = (connectTimeout = '3s') => `lan:
  interface: lan0
  addresses: [198.18.5.1/24]
uplinks:
  - name: dsl
    interface: dsl0
    address: 198.18.11.2/24
    gateway: 198.18.11.1
    role: primary
hag:
  addresses: [198.18.100.1]
  connectTimeout: ${connectTimeout}
intercept:
  maxConnections: 2
`;

let dir: string;
let lan: net.Server;
/** The LAN host's side of this test's connections: accepted, and how many of them closed. */
let lanSide: { accepted: net.Socket[]; closed: number };
/** conns[0]: the control connection; then one attach connection each. */
let conns: PipeConn[];
let fwd: InboundForwarder | undefined;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cpe-inbound-'));
  const side = { accepted: [] as net.Socket[], closed: 0 };
  lanSide = side;
  conns = [];
  lan = net.createServer((s) => {
    s.on('error', () => {});
    s.on('close', () => side.closed++);
    side.accepted.push(s);
  });
  await new Promise<void>((r) => lan.listen(0, '127.0.0.1', r));
});

afterEach(async () => {
  fwd?.stop();
  fwd = undefined;
  vi.restoreAllMocks();
  for (const s of lanSide.accepted) s.destroy();
  await new Promise((r) => lan.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** A forwarder with one forward (public 8080 -> the loopback LAN host), its control registered. */
async function forwarder(connectTimeout?: string): Promise<PipeConn> {
  const r = parseCpeConfig(yaml(connectTimeout), 'cpe.yaml', { interfaceExists: (n) => known.has(n) });
  if (!r.ok) throw new Error(formatIssues(r.issues));
  const cfg: CpeConfig = { ...r.value, state: { directory: dir } };
  const port = (lan.address() as net.AddressInfo).port;
  const inbound = {
    port: 5125,
    keepalive: 30_000,
    retry: 2000,
    forwards: [{ name: 'web', public: { first: 8080, last: 8080 }, host: '127.0.0.1', port }],
  } as NonNullable<CpeConfig['inbound']>;
  const pm = {
    initialAddress: () => ({}),
    connect: () => {
      const c = Object.assign(new PipeConn(), { subflows: [] });
      conns.push(c);
      return c;
    },
  } as unknown as ClientPathManager;
  fwd = new InboundForwarder(
    cfg,
    inbound,
    { on: () => {}, wake: () => {} } as unknown as MptcpEndpoint,
    pm,
    {} as Uplinks,
    { pick: () => '198.18.100.1' } as unknown as HagLink,
    pino({ level: 'silent' }),
    () => performance.now(),
  );
  fwd.start();
  const control = conns[0];
  await new Promise((r) => setImmediate(r)); // the control stream reads
  control.feed({ type: 'registered', status: [0] });
  expect(fwd.forwards[0].state).toBe('open');
  return control;
}

const incoming = (i: number) =>
  encodeInbound({
    type: 'incoming',
    ticket: new Uint8Array(16).fill(i),
    index: 0,
    port: 8080,
    address: Uint8Array.of(198, 18, 30, 2),
    peerPort: 40_000 + i,
  });

async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !what(); i++) await new Promise((r) => setTimeout(r, 5));
}

describe('CPE inbound forwarder', () => {
  it('a burst of INCOMINGs: LAN connects under way count toward maxConnections, the rest are rejected', async () => {
    const control = await forwarder();
    control.feed(Buffer.concat([1, 2, 3, 4].map(incoming)));
    // Read in one go: the third and fourth find two LAN connects under way (maxConnections 2).
    const rejects = control.sent.filter((m) => m.type === 'reject');
    expect(rejects.map((m) => [m.ticket[0], m.reason])).toEqual([
      [3, REJECT_REASON.busy],
      [4, REJECT_REASON.busy],
    ]);
    await until(() => conns.length >= 3 && lanSide.accepted.length >= 2);
    expect(conns.length).toBe(3); // two attach connections
    expect(conns.slice(1).map((c) => c.sent[0]?.type === 'attach' && c.sent[0].ticket[0])).toEqual([1, 2]);
    expect(lanSide.accepted.length).toBe(2);
    expect(fwd?.status().failed).toEqual({ 'cpe-busy': 2 });
  });

  it('stopped while the LAN host is being connected to: no attach connection, the LAN socket reset', async () => {
    const control = await forwarder();
    const connect = vi.spyOn(net, 'connect');
    control.feed(incoming(1));
    expect(connect).toHaveBeenCalledTimes(1); // the LAN connect is under way
    fwd?.stop();
    await until(() => lanSide.closed > 0 || conns.length > 1);
    expect(conns.length).toBe(1); // only the control connection
    expect(lanSide.closed).toBe(1);
    expect(fwd?.sessions.size).toBe(0);
  });

  it('an attach connection not established within connectTimeout: its LAN connection reset, the HAG told', async () => {
    const control = await forwarder('300ms');
    control.feed(Buffer.concat([incoming(1), incoming(2)]));
    await until(() => conns.length === 3);
    conns[2].events.onEstablished?.(); // the second one's handshake completes
    await until(() => lanSide.closed > 0);
    expect(lanSide.closed).toBe(1);
    expect(lanSide.accepted.length).toBe(2);
    const rejects = control.sent.filter((m) => m.type === 'reject');
    expect(rejects.map((m) => [m.ticket[0], m.reason])).toEqual([[1, REJECT_REASON.busy]]);
    expect(conns[1].aborted).toBe(true);
    expect(conns[2].aborted).toBe(false);
    expect(fwd?.sessions.size).toBe(1); // the established one relays on
    expect(fwd?.status().failed).toEqual({ 'attach-timeout': 1 });
    expect(fwd?.forwards[0]).toMatchObject({ active: 1, connections: 2, failed: 1 });
  });
});
