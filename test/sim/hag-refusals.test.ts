// The HAG's refusal counter in virtual time, on the daemon's own connection path (HagDaemon without
// its TUN): with SYN cookies, a refused client's segments still in flight each carry a valid
// cookie and rebuild the connection, which is refused again; hag_refusals_total and the log count
// each refused client connection once (issue 13), both when the HAG refuses it after accepting it
// (its connection limit) and when the third ACK's source is no subscriber. A client that never
// finishes its handshake is reset at the handshake timeout, and leaves no TIME-WAIT at the HAG.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseHagConfig } from '../../hag/config.js';
import { HagDaemon } from '../../hag/daemon.js';
import { Network } from '../../src/sim/index.js';
import type { TcpSocket } from '../../src/tcp/socket.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { TcpState } from '../../src/tcp/state.js';

const HAG = Uint8Array.of(198, 19, 0, 1);
const CONFIG = `
service: { addresses: [198.19.0.1], socks: { port: 1080 } }
access:
  subscribers: [198.18.0.0/16]
  rateLimit: { perSecond: 1000, burst: 1000 }
uplinks: [{ name: dsl, prefixes: [198.18.0.0/16] }]
tcp: { synCookies: always }
limits: { handshakeTimeout: HANDSHAKE_TIMEOUT, maxConnections: 1 }
`;

function lab(handshakeTimeout = '1h') {
  const cfg = parseHagConfig(CONFIG.replace('HANDSHAKE_TIMEOUT', handshakeTimeout), 'hag.yaml', {
    interfaceExists: () => false,
    addresses: () => ['198.19.0.1'],
  });
  if (!cfg.ok) throw new Error(JSON.stringify(cfg.issues));
  const hag = new HagDaemon(cfg.value, pino({ level: 'silent' }));
  hag.listen();
  const clients = new TcpStack({ tcp: { nagle: false } });
  const net = new Network({ seed: 7 });
  net.addNode('c', clients);
  net.addNode('h', hag.ep);
  const l = net.connect('c', 'h', { name: 'l', rate: 1e8, delay: 5 });
  net.route('c', { dst: '198.19.0.0/16', via: l });
  net.route('h', { dst: '198.18.0.0/15', via: l });
  /**
   * A client connection that, once established, sends a SOCKS5 greeting a byte a millisecond: its
   * third ACK and three segments are all on their way before the HAG's answer comes back.
   */
  const open = (local: Uint8Array): TcpSocket => {
    const s = clients.connect(net.now, { local, remote: HAG, remotePort: 1080 });
    net.runUntil(() => s.state === TcpState.Established, 1000);
    for (const b of [5, 1, 0]) {
      s.send(Uint8Array.of(b), 0, 1);
      clients.wake(s);
      net.runFor(1);
    }
    return s;
  };
  return { hag, net, open, clients };
}

describe('HAG refusals under SYN cookies', () => {
  it('count a client connection refused at the connection limit once, however many of its segments come back', () => {
    const { hag, net, open } = lab();
    const held = open(Uint8Array.of(198, 18, 1, 2));
    net.runFor(200);
    expect(hag.sessions.size).toBe(1);
    const cookiesBefore = hag.ep.tcp.mib.SyncookiesRecv;
    const refused = open(Uint8Array.of(198, 18, 1, 3));
    net.runFor(2000);
    // The refused connection was rebuilt from its cookie more than once (the test's premise)...
    expect(hag.ep.tcp.mib.SyncookiesRecv - cookiesBefore).toBeGreaterThan(1);
    expect(refused.error?.code).toBe('ECONNRESET');
    // ...and counted once.
    expect(hag.metrics.refusals.get({ proto: 'socks', reason: 'too-many-connections' })).toBe(1);
    expect(held.error).toBeUndefined();
    // A new connection from the same client is another refusal.
    open(Uint8Array.of(198, 18, 1, 3));
    net.runFor(2000);
    expect(hag.metrics.refusals.get({ proto: 'socks', reason: 'too-many-connections' })).toBe(2);
  });

  it('count a non-subscriber connection refused at its cookie ACK once', () => {
    const { hag, net, open } = lab();
    const s = open(Uint8Array.of(198, 19, 9, 9));
    net.runFor(2000);
    expect(hag.ep.tcp.mib.SyncookiesRecv).toBeGreaterThan(1);
    expect(s.error?.code).toBe('ECONNRESET');
    expect(hag.metrics.refusals.get({ proto: 'socks', reason: 'not-subscriber' })).toBe(1);
  });

  it('reset a client whose handshake timed out, keeping no TIME-WAIT for it', async () => {
    const { hag, net, open, clients } = lab('200ms');
    // The greeting (5 1 0) is whole; the request that should follow never comes.
    const t = open(Uint8Array.of(198, 18, 1, 4));
    // Like any client, it closes its side when the HAG closes its own.
    t.events.onEnd = () => {
      t.close();
      clients.wake(t);
    };
    const until = Date.now() + 10_000;
    while (t.state !== TcpState.Closed && Date.now() < until) {
      net.runFor(10);
      await new Promise((r) => setTimeout(r, 10)); // the handshake deadline is on the wall clock
    }
    expect(t.error?.code).toBe('ECONNRESET');
    net.runFor(1000);
    expect(hag.ep.tcp.timeWaitStats.records).toBe(0);
    expect(hag.metrics.refusals.get({ proto: 'socks', reason: 'handshake-timeout' })).toBeGreaterThan(0);
  });

  it('hold a client that sent less than a first message without a stream, and go on when the rest comes', async () => {
    const { hag, net, clients } = lab();
    const s = clients.connect(net.now, {
      local: Uint8Array.of(198, 18, 1, 6),
      remote: HAG,
      remotePort: 1080,
    });
    net.runUntil(() => s.state === TcpState.Established, 1000);
    s.send(Uint8Array.of(5), 0, 1);
    clients.wake(s);
    net.runFor(100);
    const [session] = hag.sessions.values();
    expect(session.state).toBe('handshake');
    expect(session.stream).toBeUndefined();
    s.send(Uint8Array.of(1, 0), 0, 2);
    clients.wake(s);
    // The handshake runs on promises and stream events: let them run between network steps.
    for (let i = 0; i < 100 && s.readableBytes < 2; i++) {
      net.runFor(5);
      await new Promise((r) => setImmediate(r));
    }
    const reply = new Uint8Array(2);
    s.recv(reply);
    expect([...reply]).toEqual([5, 0]); // RFC 1928 3: version 5, no authentication
    expect(session.stream).toBeDefined();
  });

  it('reset a client stalled before its first message at the deadline', async () => {
    const { hag, net, clients } = lab('200ms');
    const s = clients.connect(net.now, {
      local: Uint8Array.of(198, 18, 1, 7),
      remote: HAG,
      remotePort: 1080,
    });
    net.runUntil(() => s.state === TcpState.Established, 1000);
    s.send(Uint8Array.of(5), 0, 1);
    clients.wake(s);
    const until = Date.now() + 10_000;
    while (s.state !== TcpState.Closed && Date.now() < until) {
      net.runFor(10);
      await new Promise((r) => setTimeout(r, 10)); // the handshake deadline is on the wall clock
    }
    expect(s.error?.code).toBe('ECONNRESET');
    net.runFor(1000);
    expect(hag.sessions.size).toBe(0);
    expect(hag.ep.tcp.timeWaitStats.records).toBe(0);
    expect(hag.metrics.refusals.get({ proto: 'socks', reason: 'handshake-timeout' })).toBe(1);
  });

  it('hand a client that ends before a whole first message to the handshake, which refuses it at once', async () => {
    const { hag, net, clients } = lab();
    const s = clients.connect(net.now, {
      local: Uint8Array.of(198, 18, 1, 8),
      remote: HAG,
      remotePort: 1080,
    });
    net.runUntil(() => s.state === TcpState.Established, 1000);
    s.send(Uint8Array.of(5, 2), 0, 2); // a greeting cut short, then the FIN
    s.close();
    clients.wake(s);
    const refused = () => hag.metrics.refusals.get({ proto: 'socks', reason: 'truncated-handshake' });
    for (let i = 0; i < 100 && refused() === 0; i++) {
      net.runFor(5);
      await new Promise((r) => setImmediate(r));
    }
    expect(refused()).toBe(1);
  });
});
