// The stack's sockets that may have something to send, in round-robin order (TcpStack.active):
// each one at most once; polled from the front, moved to the back after it sent, dropped when it
// had nothing (unless it was added again while it was polled: what it did woke it up again). A
// ring over an array for the order, and membership as a flag in a Map that keeps a socket's entry
// until the socket leaves the stack (`delete`): a Set's delete and add on every poll made it
// rehash its table every few packets, an allocation each time (the second largest allocation site
// of the core in a heap profile); setting an existing key's value allocates nothing.
export class PollQueue<T> {
  private ring: (T | undefined)[] = new Array(8);
  private head = 0;
  private count = 0;
  private readonly members = new Map<T, boolean>();
  /** The front one was added again since take() returned it. */
  private woken = false;

  add(x: T): void {
    if (this.members.get(x) === true) {
      if (this.count > 0 && this.ring[this.head] === x) this.woken = true;
      return;
    }
    this.members.set(x, true);
    if (this.count === this.ring.length) this.grow();
    this.ring[(this.head + this.count) % this.ring.length] = x;
    this.count++;
  }

  /** No longer polled, and forgotten (a socket removed from the stack). */
  delete(x: T): void {
    this.members.delete(x);
  }

  /** The socket to poll next (it stays in front until rotate or dropFront), or undefined. */
  take(): T | undefined {
    this.woken = false;
    while (this.count > 0) {
      const x = this.ring[this.head] as T;
      if (this.members.get(x) === true) return x;
      this.pop(); // deleted since it was queued
    }
    return undefined;
  }

  /** The front socket sent: it goes to the back (or leaves, if deleted meanwhile). */
  rotate(): void {
    const x = this.ring[this.head] as T;
    this.pop();
    if (this.members.get(x) !== true) return;
    this.ring[(this.head + this.count) % this.ring.length] = x;
    this.count++;
  }

  /** The front socket had nothing to send: it leaves until added again, unless it was meanwhile. */
  dropFront(): void {
    if (this.woken) this.rotate();
    else {
      const x = this.ring[this.head] as T;
      if (this.members.get(x) === true) this.members.set(x, false);
      this.pop();
    }
  }

  private pop(): void {
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.ring.length;
    this.count--;
  }

  private grow(): void {
    const next: (T | undefined)[] = new Array(this.ring.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = this.ring[(this.head + i) % this.ring.length];
    this.ring = next;
    this.head = 0;
  }
}
