// Data-level reassembly (RFC 8684 3.3) of an MPTCP connection: bytes that arrive out of order
// across subflows are all kept, however many holes there are, because a subflow that delivered
// them has acknowledged them and will not send them again; and they come out in order.
import { describe, expect, it } from 'vitest';
import { DEFAULT_MPTCP_CONFIG, MptcpConnection, MptcpMib } from '../../../src/mptcp/connection.js';

function conn(): MptcpConnection {
  const local = { key: new Uint8Array(8), token: 1, idsn: { high: 0, low: 0 } };
  return new MptcpConnection('server', local, { ...DEFAULT_MPTCP_CONFIG }, new MptcpMib());
}

describe('MPTCP data-level reassembly', () => {
  it('600 segments, every other one first (300 holes): nothing is dropped, all comes out in order', () => {
    const c = conn();
    const seg = 1000;
    const n = 600;
    const data = new Uint8Array(seg * n);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 8)) & 0xff;
    for (let k = 1; k < n; k += 2) c.receive(1 + k * seg, data, k * seg, seg);
    expect(c.readableBytes).toBe(0);
    for (let k = 0; k < n; k += 2) c.receive(1 + k * seg, data, k * seg, seg);
    expect(c.readableBytes).toBe(data.length);
    expect(c.rcvNxt).toBe(1 + data.length);
    const out = new Uint8Array(data.length);
    expect(c.recv(out)).toBe(data.length);
    expect(Buffer.from(out).equals(data)).toBe(true);
  });
});
