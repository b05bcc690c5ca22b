// The LAN host's first bytes on an intercepted connection, waited for a moment before the CPE opens
// its MPTCP connection to the HAG: what arrives in time rides in the SYN behind the Convert header
// (TCP Fast Open, RFC 7413 with RFC 8803 section 4), and the HAG hands it to the server as soon as
// that connects. Otherwise a client-first request (HTTP, TLS ClientHello) waits for the HAG's
// SYN/ACK: one round trip over the access line. The kernel ended the LAN handshake already, and a
// client-first host sends right behind its ACK, so the wait is short; a server-first protocol (SSH,
// SMTP) sends nothing and costs the wait once per connection.
import type { Socket } from 'node:net';

/** How long a new LAN connection may wait for its first bytes before the SYN to the HAG leaves. */
export const FIRST_BYTES_WAIT_MS = 5;

/**
 * What the LAN host sent within `ms` (all of it that has arrived by then), or undefined when
 * nothing came, it ended or the socket closed. The socket is left without a reader, as it came:
 * the next 'data' listener starts it flowing.
 */
export function firstBytes(sock: Socket, ms: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const done = (b: Buffer | undefined) => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      sock.off('readable', onReadable);
      sock.off('end', onGone);
      sock.off('close', onGone);
      resolve(b);
    };
    const take = () => (finished ? undefined : ((sock.read() as Buffer | null) ?? undefined));
    const onReadable = () => {
      const b = take();
      if (b || sock.readableEnded) done(b);
    };
    const onGone = () => done(undefined);
    sock.on('readable', onReadable);
    sock.once('end', onGone);
    sock.once('close', onGone);
    // A busy event loop runs timers before it polls the sockets: give bytes that came in the
    // meantime that one poll (setImmediate runs after it) before giving up on them.
    timer = setTimeout(() => {
      timer = undefined;
      setImmediate(() => {
        if (!finished) done(take());
      });
    }, ms);
  });
}
