// The HAG in transparent mode in virtual time, on the daemon's own connection path (HagDaemon
// without its TUN: the simulator hands its core what the kernel's divert would): an MPTCP client
// on two links opens a connection to a server's address, which the 'any' listener takes even on a
// port the HAG serves on its service address, and joins it over its second link; the service
// address keeps its own service; a non-subscriber and a forbidden destination are reset at the
// SYN and counted; a server that cannot be reached resets the client (here its dial fails at once:
// the machine running the test lacks the egress source).
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseHagConfig } from '../../hag/config.js';
import { HagDaemon } from '../../hag/daemon.js';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { Network } from '../../src/sim/index.js';
import { TcpState } from '../../src/tcp/state.js';

const A1 = Uint8Array.of(198, 18, 1, 2);
const A2 = Uint8Array.of(198, 18, 2, 2);
const STRANGER = Uint8Array.of(198, 18, 9, 2);
const HAG = Uint8Array.of(198, 19, 0, 1);
/** A server's address (allowed below). */
const SERVER = Uint8Array.of(198, 51, 100, 7);
const CONFIG = `
service: { addresses: [198.19.0.1], socks: { port: 1080 }, transparent: {} }
# An egress source this machine lacks (the check is told it has it): every dial fails at once.
egress: { source4: 198.19.0.9, connectTimeout: 300ms }
access:
  subscribers: [198.18.1.0/24, 198.18.2.0/24]
  allowDestinations: [198.51.100.0/24]
  rateLimit: { perSecond: 1000, burst: 1000 }
uplinks: [{ name: dsl, prefixes: [198.18.1.0/24] }, { name: lte, prefixes: [198.18.2.0/24] }]
`;

function lab() {
  const cfg = parseHagConfig(CONFIG, 'hag.yaml', {
    interfaceExists: () => false,
    addresses: () => ['198.19.0.9'],
  });
  if (!cfg.ok) throw new Error(JSON.stringify(cfg.issues));
  const hag = new HagDaemon(cfg.value, pino({ level: 'silent' }));
  hag.listen();
  const cpe = new MptcpEndpoint();
  const net = new Network({ seed: 18 });
  net.addNode('c', cpe);
  net.addNode('h', hag.ep);
  const dsl = net.connect('c', 'h', { name: 'dsl', rate: 20e6, delay: 10 });
  const lte = net.connect('c', 'h', { name: 'lte', rate: 40e6, delay: 30 });
  net.route('c', { src: '198.18.1.0/24', via: dsl });
  net.route('c', { src: '198.18.9.0/24', via: dsl });
  net.route('c', { src: '198.18.2.0/24', via: lte });
  net.route('h', { dst: '198.18.1.0/24', via: dsl });
  net.route('h', { dst: '198.18.9.0/24', via: dsl });
  net.route('h', { dst: '198.18.2.0/24', via: lte });
  const open = (local: Uint8Array, remote: Uint8Array, remotePort: number): MptcpConnection => {
    const c = cpe.connect(net.now, { local, remote, remotePort });
    net.runUntil(() => c.fullyEstablished || c.isClosed, 2000);
    return c;
  };
  return { hag, cpe, net, open };
}

describe('HAG transparent mode', () => {
  it("takes a connection to a server's address on the HAG's own port, joins it, resets it when the server cannot be reached", async () => {
    const { hag, cpe, net, open } = lab();
    const c = open(A1, SERVER, 1080);
    expect(c.fullyEstablished && !c.fallback).toBe(true);
    const join = cpe.join(net.now, c, A2, 1);
    net.runUntil(() => join.state === TcpState.Established, 2000);
    net.runFor(100);
    const [session] = hag.sessions.values();
    expect(session.proto).toBe('transparent');
    expect(session.dst).toBe('198.51.100.7:1080');
    expect(join.state).toBe(TcpState.Established);
    session.observe();
    expect(session.subflows().map((s) => s.uplink)).toEqual(['dsl', 'lte']);
    expect(hag.metrics.connections.get({ proto: 'transparent' })).toBe(1);
    // The dial fails (its source cannot be bound): the client is reset, as a refusing server would.
    const until = Date.now() + 5000;
    while (hag.sessions.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    net.runUntil(() => c.isClosed, 2000);
    expect(c.isClosed).toBe(true);
    expect(c.error?.code).toBe('ECONNRESET');
    expect(hag.metrics.refusals.get({ proto: 'transparent', reason: 'network-unreachable' })).toBe(1);
  });

  it('keeps the service address for its own service', () => {
    const { hag, open } = lab();
    open(A1, HAG, 1080);
    const [session] = hag.sessions.values();
    expect(session.proto).toBe('socks');
  });

  it('resets a non-subscriber and a forbidden destination at the SYN, counting each', () => {
    const { hag, open } = lab();
    expect(open(STRANGER, SERVER, 80).isClosed).toBe(true);
    expect(open(A1, Uint8Array.of(10, 1, 2, 3), 80).isClosed).toBe(true);
    // The HAG's own address on another port is no destination either.
    expect(open(A1, HAG, 22).isClosed).toBe(true);
    expect(hag.sessions.size).toBe(0);
    const r = hag.metrics.refusals;
    expect(r.get({ proto: 'transparent', reason: 'not-subscriber' })).toBe(1);
    expect(r.get({ proto: 'transparent', reason: 'forbidden-destination' })).toBe(2);
  });
});
