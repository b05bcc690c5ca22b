// Initial sequence numbers per RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport,
// secretkey), M a 4-microsecond timer and F a keyed hash (SHA-256 here), so that ISNs of
// different connections are unpredictable while those of one 4-tuple advance with time.
import { createHash, randomBytes } from 'node:crypto';

export class IsnGenerator {
  private readonly secret: Buffer;

  constructor(secret: Uint8Array = randomBytes(16)) {
    this.secret = Buffer.from(secret);
  }

  next(nowMs: number, local: Uint8Array, localPort: number, remote: Uint8Array, remotePort: number): number {
    const h = createHash('sha256');
    h.update(local);
    h.update(remote);
    const ports = Buffer.allocUnsafe(4);
    ports.writeUInt16BE(localPort, 0);
    ports.writeUInt16BE(remotePort, 2);
    h.update(ports);
    h.update(this.secret);
    const f = h.digest().readUInt32BE(0);
    const m = Math.floor(nowMs * 250); // 4 µs ticks
    return (f + m) >>> 0;
  }
}
