// A stand-in for the core's connection under a ConnStream (StreamConn): a send buffer of `size`
// bytes of which `used` are not yet acknowledged, `ack(n)` acknowledging n of them as a DATA_ACK
// would (then onWritable, as the connection fires it); what was sent is kept in `sent`.
import type { StreamConn } from '../../../src/tcp/stream.js';

export type FakeConn = StreamConn & { used: number; sent: number; ack(n: number): void };

export function fakeConn(size: number): FakeConn {
  const c = {
    used: 0,
    sent: 0,
    get sendSpace() {
      return size - c.used;
    },
    send(_d: Uint8Array, _off: number, len: number) {
      const n = Math.min(len, size - c.used);
      c.used += n;
      c.sent += n;
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
