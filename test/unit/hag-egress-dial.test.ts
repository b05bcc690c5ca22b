// hag/egress.ts dial(): connected or refused as values, through listeners shared by every dial
// that find theirs on the socket only until it settled (nothing per connection stays but a slot).
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { dial } from '../../hag/egress.js';

const opts = { policy: { check: () => ({ ok: true }) } as never, connectTimeoutMs: 2000 };

describe('egress dial', () => {
  it('resolves connected, and the socket no longer holds the dial', async () => {
    const srv = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const r = await dial('127.0.0.1', port, opts);
    expect(r.ok).toBe(true);
    if (r.ok) {
      const held = Object.getOwnPropertySymbols(r.socket).filter((k) => k.description === 'dial');
      expect(held.map((k) => (r.socket as never)[k])).toEqual([undefined]);
      r.socket.destroy();
    }
    srv.close();
  });

  it('a refused port is destination-refused', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    const r = await dial('127.0.0.1', port, opts);
    expect(r).toMatchObject({ ok: false, failure: 'destination-refused' });
  });
});
