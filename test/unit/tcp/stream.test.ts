// ConnStream.whenRoom: a writer waiting for room in the connection's send buffer is called once, at
// the first acknowledgment after which the buffer takes what it asked for (at most the buffer's
// size), and not before. The stream is its connection's events object and wakes through a waker
// object (no closures per connection).
import { describe, expect, it } from 'vitest';
import { ConnStream } from '../../../src/tcp/stream.js';
import { fakeConn } from '../lib/fake-conn.js';

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

  it("reports the connection's send space, which the relay asks before it waits for room", () => {
    const conn = fakeConn(100_000);
    const s = new ConnStream(conn, () => {});
    expect(s.sendSpace).toBe(100_000);
    s.writeNow(new Uint8Array(30_000), 0, 30_000);
    expect(s.sendSpace).toBe(70_000);
  });
});

describe('ConnStream without closures', () => {
  it("is its connection's events object, and calls a waker object with the connection", () => {
    const conn = fakeConn(100_000);
    const woken: unknown[] = [];
    const waker = { wake: (c: unknown) => woken.push(c) };
    const s = new ConnStream(conn, waker);
    expect(conn.events).toBe(s);
    expect(s.writeNow(new Uint8Array(10), 0, 10)).toBe(10);
    expect(woken).toEqual([conn]);
    let connected = 0;
    s.on('connect', () => connected++);
    conn.events.onEstablished?.();
    expect(connected).toBe(1);
  });

  it('still takes a function as its waker', () => {
    const conn = fakeConn(100);
    let calls = 0;
    const s = new ConnStream(conn, () => calls++);
    s.writeNow(new Uint8Array(5), 0, 5);
    expect(calls).toBe(1);
  });
});
