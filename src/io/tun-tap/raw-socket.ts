// A raw IPv4 or IPv6 socket from the project's addon (raw_socket.cc), as an event emitter:
// 'message' with each datagram received (a fresh Buffer; over IPv4 it starts with the IP header),
// its source address and its hop limit (when the socket set IPV6_RECVHOPLIMIT or IP_RECVTTL),
// 'error' when reading fails (reading then stops), 'close'. Sends are one
// sendto(2) each, reported to a callback on the next tick. Needs CAP_NET_RAW.
import { EventEmitter } from 'node:events';
import { loadAddon, type NativeRawSocket } from './index.js';

export interface RawSocketOptions {
  family: 4 | 6;
  /** IP protocol number (1 ICMP, 17 UDP, 58 ICMPv6, ...). */
  protocol: number;
  /** Largest datagram received whole, bytes (64..65535, default 4096). */
  bufferSize?: number;
}

export interface RawSocketEvents {
  message: [data: Buffer, source: string, hopLimit: number | undefined];
  error: [err: Error];
  close: [];
}

export type SendCallback = (err: Error | null, bytes: number) => void;

export class RawSocket extends EventEmitter<RawSocketEvents> {
  readonly #native: NativeRawSocket;
  #closed = false;

  /** Opens the socket and starts reading; throws the kernel's error (EPERM without CAP_NET_RAW). */
  constructor(opts: RawSocketOptions) {
    super();
    const Native = loadAddon().RawSocket;
    this.#native = new Native(opts.family, opts.protocol, opts.bufferSize ?? 4096);
    this.#native.start(
      (data, source, hopLimit) => this.emit('message', data, source, hopLimit),
      (err) => this.emit('error', err),
    );
  }

  /** setsockopt(2) with an int, or with bytes (e.g. an interface name for SO_BINDTODEVICE). */
  setOption(level: number, name: number, value: number | Uint8Array): void {
    this.#native.setOption(level, name, value);
  }

  /** Sends buf[offset, offset + length) to `address` (the kernel adds the IP header unless
   * IP_HDRINCL is set); `cb` gets the error or the bytes sent, on the next tick. */
  send(buf: Uint8Array, offset: number, length: number, address: string, cb: SendCallback): this {
    let bytes = 0;
    let error: Error | null = null;
    try {
      bytes = this.#native.send(buf, offset, length, address);
    } catch (e) {
      error = e as Error;
    }
    process.nextTick(cb, error, bytes);
    return this;
  }

  /** Lets the process exit while the socket is open (like dgram's unref()). */
  unref(): this {
    this.#native.unref();
    return this;
  }

  ref(): this {
    this.#native.ref();
    return this;
  }

  /** Stops reading and closes the socket; emits 'close' once. Idempotent. */
  close(): this {
    if (this.#closed) return this;
    this.#closed = true;
    this.#native.close();
    process.nextTick(() => this.emit('close'));
    return this;
  }
}
