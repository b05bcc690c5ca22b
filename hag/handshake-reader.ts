// Reads a handshake (Convert header, SOCKS5 messages) off the start of a client stream with an
// incremental parser: bytes are gathered until the parser says ok or error, with a byte bound and a
// deadline. Whatever follows the handshake stays in the reader (`rest()`) for the relay, so data
// the client sent early (0-RTT) reaches the server first.
import type { Duplex } from 'node:stream';

export type Parsed<T> =
  | { kind: 'ok'; value: T; consumed: number }
  | { kind: 'incomplete' }
  | { kind: 'error'; error: { reason: string } & Record<string, unknown> };

export type ReadResult<T, E> =
  | { kind: 'ok'; value: T }
  | { kind: 'error'; error: E }
  | { kind: 'eof'; received: number }
  | { kind: 'timeout'; received: number }
  | { kind: 'too-long'; received: number };

export class HandshakeReader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private failed: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly onData = (d: Buffer) => {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    this.wake?.();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.wake?.();
  };
  private readonly onError = (e: Error) => {
    this.failed = e;
    this.wake?.();
  };

  constructor(
    private readonly stream: Duplex,
    private readonly deadline: number,
    private readonly maxBytes: number,
  ) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('error', this.onError);
  }

  /** Waits for one message that `parse` accepts; the bytes it took are dropped from the buffer. */
  async read<T, E>(
    parse: (b: Uint8Array) => Parsed<T> | { kind: 'error'; error: E },
  ): Promise<ReadResult<T, E>> {
    for (;;) {
      const r = parse(this.buf);
      if (r.kind === 'ok') {
        this.buf = this.buf.subarray(r.consumed);
        return { kind: 'ok', value: r.value };
      }
      if (r.kind === 'error') return { kind: 'error', error: r.error as E };
      if (this.buf.length >= this.maxBytes) return { kind: 'too-long', received: this.buf.length };
      if (this.ended || this.failed) return { kind: 'eof', received: this.buf.length };
      const left = this.deadline - Date.now();
      if (left <= 0) return { kind: 'timeout', received: this.buf.length };
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          this.wake = undefined;
          resolve();
        };
      });
    }
  }

  /** Stops reading: the stream is paused, and the bytes after the handshake are returned. */
  detach(): Buffer {
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onEnd);
    this.stream.off('error', this.onError);
    this.stream.pause();
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest;
  }
}
