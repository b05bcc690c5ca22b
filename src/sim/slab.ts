// Packet copies carved out of large shared ArrayBuffers. Copying each transmitted packet with
// slice() gives it its own ArrayBuffer, and allocating (and later finalizing) a backing store per
// packet dominates a simulation's run time. Here copies are subarrays of 256 KiB slabs: a slab is
// never reused, only dropped by the garbage collector once no packet in it is referenced, so a
// copy never aliases another packet.
import { copyOut } from '../wire/bytes.js';

const SLAB_BYTES = 256 * 1024;

export class PacketSlab {
  private buf = new ArrayBuffer(SLAB_BYTES);
  private bytes = new Uint8Array(this.buf);
  private off = 0;

  /** A fresh copy of src[0, len). */
  copy(src: Uint8Array, len: number): Uint8Array {
    if (len > SLAB_BYTES / 4) return copyOut(src, 0, len);
    if (this.off + len > SLAB_BYTES) {
      this.buf = new ArrayBuffer(SLAB_BYTES);
      this.bytes = new Uint8Array(this.buf);
      this.off = 0;
    }
    const at = this.off;
    this.bytes.set(len === src.length ? src : src.subarray(0, len), at);
    const out = new Uint8Array(this.buf, at, len);
    // Keep copies 8-byte aligned.
    this.off = (at + len + 7) & ~7;
    return out;
  }
}
