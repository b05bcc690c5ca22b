// Segments the stack sends without a connection (resets, SYN-cookie SYN/ACKs), waiting for
// pollTransmit: a fixed ring of slots allocated once, so that answering a SYN flood allocates no
// buffer per segment. A segment is written in place into reserve()'s slot and sent by copy.

/** The largest such segment: an IPv6 header and a TCP header with 40 bytes of options. */
export const REPLY_SLOT_LEN = 40 + 60;

export class ReplyQueue {
  private readonly slots: Uint8Array[];
  private readonly lens: Uint16Array;
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    const store = new Uint8Array(capacity * REPLY_SLOT_LEN);
    this.slots = Array.from({ length: capacity }, (_, i) =>
      store.subarray(i * REPLY_SLOT_LEN, (i + 1) * REPLY_SLOT_LEN),
    );
    this.lens = new Uint16Array(capacity);
  }

  get length(): number {
    return this.count;
  }

  /** The slot to write the next segment into (from offset 0), or undefined when the queue is full. */
  reserve(): Uint8Array | undefined {
    return this.count < this.capacity ? this.slots[(this.head + this.count) % this.capacity] : undefined;
  }

  /** Queues the segment just written into reserve()'s slot, `len` bytes long. */
  commit(len: number): void {
    this.lens[(this.head + this.count) % this.capacity] = len;
    this.count++;
  }

  /** Copies the oldest segment into `buf`; its length, 0 when the queue is empty. */
  shift(buf: Uint8Array): number {
    if (this.count === 0) return 0;
    const len = this.lens[this.head];
    const slot = this.slots[this.head];
    for (let i = 0; i < len; i++) buf[i] = slot[i];
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return len;
  }
}
