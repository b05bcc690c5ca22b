// The CPE's wait for a LAN host's first bytes (cpe/daemon/first-bytes.ts), on loopback sockets: a
// client-first host's request is taken within the wait (it then rides in the SYN to the HAG), a
// server-first host costs the wait and nothing else, and the socket is left for the relay to read.
import net, { type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { firstBytes } from '../../cpe/daemon/first-bytes.js';

const open: Socket[] = [];
let server: net.Server | undefined;

/** A loopback pair: the accepted socket (the CPE's LAN side) and the client (the LAN host). */
async function pair(): Promise<{ lan: Socket; host: Socket }> {
  const accepted = new Promise<Socket>((resolve) => {
    server = net.createServer({ allowHalfOpen: true }, resolve);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server!.address() as net.AddressInfo).port;
  const host = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const lan = await accepted;
  open.push(lan, host);
  return { lan, host };
}

afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
  server?.close();
  server = undefined;
});

describe('firstBytes', () => {
  it('takes what a client-first host sends at once, and leaves the rest for a reader', async () => {
    const { lan, host } = await pair();
    host.write('GET / HTTP/1.1\r\n\r\n');
    const t0 = performance.now();
    const b = await firstBytes(lan, 2000);
    expect(b?.toString()).toBe('GET / HTTP/1.1\r\n\r\n');
    expect(performance.now() - t0).toBeLessThan(1000); // did not wait for the deadline
    const more = new Promise<string>((r) => lan.once('data', (d) => r(d.toString())));
    host.write('more');
    expect(await more).toBe('more');
  });

  it('gives up after the wait when the host sends nothing (a server-first protocol)', async () => {
    const { lan, host } = await pair();
    const t0 = performance.now();
    expect(await firstBytes(lan, 30)).toBeUndefined();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    // Bytes sent later are not lost: the relay's reader gets them.
    const later = new Promise<string>((r) => lan.once('data', (d) => r(d.toString())));
    host.write('late');
    expect(await later).toBe('late');
  });

  it('returns nothing when the host ends at once, and the end stays visible', async () => {
    const { lan, host } = await pair();
    host.end();
    expect(await firstBytes(lan, 2000)).toBeUndefined();
    await new Promise<void>((r) => {
      if (lan.readableEnded) r();
      else lan.once('end', () => r()).resume();
    });
    expect(lan.readableEnded).toBe(true);
  });
});
