// What a protocol handshake (Convert or SOCKS5) decides about a connection: refused (with the
// bytes to send the client before closing, if the protocol has a way to say why) or connected
// (with the egress socket, the bytes that tell the client it may go on, and the client's bonding
// policy when it sent one).
import type net from 'node:net';
import type { BondingPolicy } from '../src/convert/index.js';

export type Outcome =
  | { kind: 'refused'; reason: string; detail?: string; dst?: string; reply?: Uint8Array }
  | {
      kind: 'connected';
      socket: net.Socket;
      dst: string;
      reply: Uint8Array;
      /** The client's bonding policy (Convert policy TLV), or why one it sent was not used. */
      policy?: BondingPolicy;
      policyIgnored?: string;
    };
