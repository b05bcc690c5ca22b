// Connections by 4-tuple: a map keyed by the two ports, each entry a short list told apart by the
// addresses; the lookup on a packet compares its address bytes in place. It holds the stack's
// sockets and its TIME-WAIT records alike.
import { bytesEqual, bytesEqualAt } from '../wire/bytes.js';
import type { FourTuple } from './segment.js';

export class TupleMap<T extends { readonly tuple: FourTuple }> {
  private readonly byPorts = new Map<number, T[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(v: T): void {
    const k = key(v.tuple.localPort, v.tuple.remotePort);
    const list = this.byPorts.get(k);
    if (list) list.push(v);
    else this.byPorts.set(k, [v]);
    this.count++;
  }

  /** Removes `v`; false when it was not there. */
  delete(v: T): boolean {
    const k = key(v.tuple.localPort, v.tuple.remotePort);
    const list = this.byPorts.get(k);
    const i = list ? list.indexOf(v) : -1;
    if (!list || i < 0) return false;
    list.splice(i, 1);
    if (list.length === 0) this.byPorts.delete(k);
    this.count--;
    return true;
  }

  find(local: Uint8Array, localPort: number, remote: Uint8Array, remotePort: number): T | undefined {
    const list = this.byPorts.get(key(localPort, remotePort));
    if (!list) return undefined;
    for (const v of list)
      if (bytesEqual(v.tuple.local, local) && bytesEqual(v.tuple.remote, remote)) return v;
    return undefined;
  }

  /** The lookup on a packet's addresses (at dstOff and srcOff, alen bytes each), without copying them. */
  findIn(
    buf: Uint8Array,
    dstOff: number,
    srcOff: number,
    alen: number,
    dport: number,
    sport: number,
  ): T | undefined {
    if (this.count === 0) return undefined;
    const list = this.byPorts.get(key(dport, sport));
    if (!list) return undefined;
    for (const v of list) {
      const t = v.tuple;
      if (
        t.local.length === alen &&
        bytesEqualAt(t.local, buf, dstOff) &&
        bytesEqualAt(t.remote, buf, srcOff)
      )
        return v;
    }
    return undefined;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (const list of this.byPorts.values()) yield* list;
  }
}

function key(localPort: number, remotePort: number): number {
  return localPort * 65536 + remotePort;
}
