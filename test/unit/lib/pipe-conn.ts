// A stand-in for the core's connection (StreamConn) on which a test plays the HAG of the inbound
// protocol (src/inbound/wire.ts): what the CPE sends is decoded into `sent`, what the HAG says is
// fed with feed(); `taking = false` is a HAG that reads nothing more (its window closed).
import { decodeInbound, encodeInbound, type InboundMessage } from '../../../src/inbound/index.js';
import type { StreamConn } from '../../../src/tcp/stream.js';

export class PipeConn implements StreamConn {
  readonly sent: InboundMessage[] = [];
  private inbox: Buffer = Buffer.alloc(0);
  isClosed = false;
  readEnded = false;
  aborted = false;
  error: Error | undefined;
  events: StreamConn['events'] = {};
  /** False: the HAG reads nothing more (its window closed): the send buffer takes nothing. */
  taking = true;
  get sendSpace() {
    return this.taking ? 1 << 20 : 0;
  }
  get readableBytes() {
    return this.inbox.length;
  }
  send(d: Uint8Array, off: number, len: number): number {
    if (!this.taking) return 0;
    const b = Buffer.from(d.subarray(off, off + len));
    for (let o = 0; o < b.length; ) {
      const m = decodeInbound(b.subarray(o));
      if (m.kind !== 'ok') throw new Error(`the CPE sent a bad message: ${m.kind}`);
      this.sent.push(m.message);
      o += m.consumed;
    }
    return len;
  }
  recv(dst: Uint8Array): number {
    const n = Math.min(dst.length, this.inbox.length);
    dst.set(this.inbox.subarray(0, n));
    this.inbox = this.inbox.subarray(n);
    return n;
  }
  close(): void {}
  abort(): void {
    this.aborted = true;
    this.isClosed = true;
  }
  /** The HAG sends `m` (or raw bytes). */
  feed(m: InboundMessage | Buffer): void {
    this.inbox = Buffer.concat([this.inbox, Buffer.isBuffer(m) ? m : encodeInbound(m)]);
    this.events.onReadable?.();
  }
  types(): string[] {
    return this.sent.map((m) => m.type);
  }
}
