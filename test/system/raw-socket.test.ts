// System test of the addon's raw IP sockets (src/io/tun-tap/raw-socket.ts, raw_socket.cc), as root,
// on loopback only: ICMP and ICMPv6 echoes bound to lo reach the kernel and its replies come back
// as 'message' events with the source address (over IPv4 with the IP header, over IPv6 without)
// and, with IPV6_RECVHOPLIMIT, the hop limit;
// kernel refusals are errors with the errno's code; a closed socket emits 'close' once and its
// sends fail with EBADF.
import { once } from 'node:events';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bindToDevice, raw } from '../../cpe/net/raw-socket.js';
import { echoRequest, readV4, readV6 } from '../../cpe/probe/icmp.js';
import type { RawSocket } from '../../src/io/tun-tap/raw-socket.js';
import { requireRoot } from './lib/netns.js';

const open: RawSocket[] = [];
const id = Math.floor(Math.random() * 0x10000);

function socket(family: 4 | 6): RawSocket {
  const s = raw.createSocket({
    protocol: family === 4 ? raw.Protocol.ICMP : raw.Protocol.ICMPv6,
    addressFamily: family === 4 ? raw.AddressFamily.IPv4 : raw.AddressFamily.IPv6,
  });
  open.push(s);
  return s;
}

function send(s: RawSocket, pkt: Buffer, to: string): Promise<{ err: Error | null; bytes: number }> {
  return new Promise((resolve) => s.send(pkt, 0, pkt.length, to, (err, bytes) => resolve({ err, bytes })));
}

/** The first echo reply with our id, read with `parse`. */
function reply(s: RawSocket, parse: (buf: Buffer, src: string) => ReturnType<typeof readV4>) {
  return new Promise<{ seq: number; source: string }>((resolve) => {
    s.on('message', (buf, source) => {
      const r = parse(buf, source);
      if (r.ok && r.read.kind === 'reply' && r.read.id === id) resolve({ seq: r.read.seq, source });
    });
  });
}

/** Waits until `hops` has `n` entries (the replies' events). */
async function waitHops(hops: unknown[], n: number): Promise<void> {
  for (let i = 0; i < 200 && hops.length < n; i++) await new Promise((r) => setTimeout(r, 10));
}

beforeAll(() => requireRoot());
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

describe('raw sockets of the addon', () => {
  it('ICMP echo to 127.0.0.1 from a socket bound to lo: the reply arrives with its IP header', async () => {
    const s = socket(4);
    bindToDevice(s, 'lo');
    const got = reply(s, (buf) => readV4(buf));
    const pkt = echoRequest(4, id, 7);
    expect(await send(s, pkt, '127.0.0.1')).toEqual({ err: null, bytes: pkt.length });
    expect(await got).toEqual({ seq: 7, source: '127.0.0.1' });
  });

  it('with IPV6_RECVHOPLIMIT each datagram comes with its hop limit; without it, none', async () => {
    const s = socket(6);
    bindToDevice(s, 'lo');
    const hops: (number | undefined)[] = [];
    s.on('message', (buf, src, hopLimit) => {
      const r = readV6(buf, src);
      if (r.ok && r.read.kind === 'reply' && r.read.id === id) hops.push(hopLimit);
    });
    const { IPPROTO_IPV6 } = raw.SocketLevel;
    // The kernel's echo reply leaves with the default hop limit (64) over lo.
    await send(s, echoRequest(6, id, 1), '::1');
    await waitHops(hops, 1);
    s.setOption(IPPROTO_IPV6, raw.SocketOption.IPV6_RECVHOPLIMIT, 1);
    await send(s, echoRequest(6, id, 2), '::1');
    await waitHops(hops, 2);
    expect(hops).toEqual([undefined, 64]);
  });

  it('ICMPv6 echo to ::1 (the kernel fills the checksum): the reply arrives without an IP header', async () => {
    const s = socket(6);
    bindToDevice(s, 'lo');
    const got = reply(s, (buf, src) => readV6(buf, src));
    expect((await send(s, echoRequest(6, id, 9), '::1')).err).toBeNull();
    expect(await got).toEqual({ seq: 9, source: '::1' });
  });

  it('kernel refusals are errors with their code: no such interface, a bad address', async () => {
    const s = socket(4);
    expect(() => bindToDevice(s, 'ha-no-such0')).toThrow(/SO_BINDTODEVICE ha-no-such0: .*No such device/);
    const { err } = await send(s, echoRequest(4, id, 1), 'not-an-address');
    expect((err as NodeJS.ErrnoException).code).toBe('EINVAL');
  });

  it('close() emits close once; later sends fail with EBADF', async () => {
    const s = socket(4);
    const closed = once(s, 'close');
    s.close();
    s.close();
    await closed;
    const { err } = await send(s, echoRequest(4, id, 2), '127.0.0.1');
    expect((err as NodeJS.ErrnoException).code).toBe('EBADF');
  });
});
