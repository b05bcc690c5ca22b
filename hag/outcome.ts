// What a protocol handshake (Convert or SOCKS5) decides about a connection: refused (with the
// bytes to send the client before closing, if the protocol has a way to say why) or connected
// (with the egress socket and the bytes that tell the client it may go on).
import type net from 'node:net';

export type Outcome =
  | { kind: 'refused'; reason: string; detail?: string; dst?: string; reply?: Uint8Array }
  | { kind: 'connected'; socket: net.Socket; dst: string; reply: Uint8Array };
