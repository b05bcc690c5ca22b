// ConnStream.whenRoom: a writer waiting for room in the connection's send buffer is called once, at
// the first acknowledgment after which the buffer takes what it asked for (at most the buffer's
// size), and not before.
import { describe, expect, it } from 'vitest';
import { ConnStream, type StreamConn } from '../../../src/tcp/stream.js';

/** A connection with a send buffer of `size` bytes of which `used` are unacknowledged. */
function fakeConn(size: number): StreamConn & { used: number; ack(n: number): void } {
  const c = {
    used: 0,
    get sendSpace() {
      return size - c.used;
    },
    send(_d: Uint8Array, _off: number, len: number) {
      const n = Math.min(len, size - c.used);
      c.used += n;
      return n;
    },
    recv: () => 0,
    readableBytes: 0,
    readEnded: false,
    isClosed: false,
    close() {},
    abort() {},
    events: {} as StreamConn['events'],
    ack(n: number) {
      c.used -= n;
      c.events.onWritable?.();
    },
  };
  return c;
}

describe('ConnStream.whenRoom', () => {
  it('calls once the send buffer has the room asked for, after an acknowledgment', () => {
    const conn = fakeConn(100_000);
    const s = new ConnStream(conn, () => {});
    expect(s.writeNow(new Uint8Array(90_000), 0, 90_000)).toBe(90_000);
    let calls = 0;
    s.whenRoom(65_536, () => calls++);
    conn.ack(20_000);
    expect(calls).toBe(0);
    conn.ack(40_000);
    expect(calls).toBe(1);
    conn.ack(30_000);
    expect(calls).toBe(1);
  });

  it('waits at most for the whole buffer', () => {
    const conn = fakeConn(16_384);
    const s = new ConnStream(conn, () => {});
    s.writeNow(new Uint8Array(16_384), 0, 16_384);
    let calls = 0;
    s.whenRoom(65_536, () => calls++);
    conn.ack(8_192);
    expect(calls).toBe(0);
    conn.ack(8_192);
    expect(calls).toBe(1);
  });
});
