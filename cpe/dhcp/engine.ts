// The DHCP server's protocol logic (RFC 2131 4.3): one parsed client message and the time in, the
// reply (or a reason for staying silent) out, updating the lease table. No sockets, no clock: the
// server (server.ts) feeds it, sends the reply, logs the outcome and persists the table.
import { type Lease, LeaseTable, normMac, type PoolConfig } from './leases.js';
import {
  BOOTREPLY,
  BOOTREQUEST,
  blank,
  CLIENT_PORT,
  type DhcpMessage,
  encode,
  MessageType,
  messageType,
  Opt,
  optIp,
  optString,
  prefixToMask,
} from './wire.js';

export interface DhcpServerConfig extends PoolConfig {
  /** Lease time handed out, seconds (option 51). */
  leaseTime: number;
  /** How long an offered address is held for the client's REQUEST, seconds (default 60). */
  offerHold?: number;
  /** How long a DECLINEd address stays unused, seconds (default 600). */
  declineQuarantine?: number;
  /** Routers (option 3); default: the server's own address. */
  router?: readonly string[];
  /** DNS servers (option 6); default: the server's own address. */
  dns?: readonly string[];
  /** Domain name (option 15). */
  domain?: string;
  /**
   * The only DHCP server on its LAN (default true): a REQUEST naming another server id, or an
   * address this server cannot grant, gets a NAK instead of silence.
   */
  authoritative?: boolean;
}

const ZERO = '0.0.0.0';

export type Event = 'offer' | 'ack' | 'nak' | 'release' | 'decline' | 'inform' | 'ignored';

export interface Reply {
  msg: DhcpMessage;
  /** Destination address: the client's ciaddr, or the limited broadcast. */
  to: string;
  port: number;
}

export interface Outcome {
  event: Event;
  mac: string;
  /** The address concerned, when there is one. */
  address?: string;
  /** Why a NAK was sent or the message ignored (for the log). */
  reason?: string;
  reply?: Reply;
  /** The lease table changed: persist it. */
  changed: boolean;
}

export class DhcpEngine {
  readonly leases: LeaseTable;
  readonly #cfg: DhcpServerConfig;
  readonly #mask: string;

  constructor(cfg: DhcpServerConfig) {
    if (!(cfg.leaseTime >= 60)) throw new RangeError(`leaseTime ${cfg.leaseTime} s: at least 60`);
    this.#cfg = cfg;
    this.leases = new LeaseTable(cfg);
    this.#mask = prefixToMask(this.leases.prefixLength);
  }

  get serverId(): string {
    return this.#cfg.serverId;
  }

  handle(msg: DhcpMessage, now: number): Outcome {
    const mac = normMac(msg.chaddr);
    // RFC 2131 2: clients send BOOTREQUEST; replies from other servers are not for us.
    if (msg.op !== BOOTREQUEST) return this.#ignore(mac, 'not a BOOTREQUEST');
    if (msg.htype !== 1 || msg.hlen !== 6)
      return this.#ignore(mac, `hardware type ${msg.htype}/${msg.hlen} is not Ethernet`);
    // RFC 2131 4.1: relayed messages (giaddr set) would go back through the relay; a CPE's LAN has none.
    if (msg.giaddr !== ZERO) return this.#ignore(mac, `relayed via ${msg.giaddr}: relays are not served`);
    this.leases.expire(now);
    switch (messageType(msg)) {
      case MessageType.DISCOVER:
        return this.#discover(msg, mac, now);
      case MessageType.REQUEST:
        return this.#request(msg, mac, now);
      case MessageType.DECLINE:
        return this.#decline(msg, mac, now);
      case MessageType.RELEASE:
        return this.#release(msg, mac, now);
      case MessageType.INFORM:
        return this.#inform(msg, mac);
      default:
        return this.#ignore(mac, `message type ${messageType(msg)} is not sent by clients`);
    }
  }

  #ignore(mac: string, reason: string, address?: string, changed = false): Outcome {
    return { event: 'ignored', mac, reason, changed, ...(address ? { address } : {}) };
  }

  /** RFC 2131 4.3.1: choose an address, hold it for the client, answer with DHCPOFFER. */
  #discover(msg: DhcpMessage, mac: string, now: number): Outcome {
    const requested = optIp(msg, Opt.REQUESTED_IP);
    const address = this.leases.choose(mac, requested, now);
    if (address === undefined) {
      const st = this.leases.staticFor(mac);
      return this.#ignore(
        mac,
        st ? `reserved address ${st} is not available` : 'no free address in the ranges',
      );
    }
    const cur = this.leases.get(address);
    // A client that still holds a binding keeps it; otherwise the address is held for the offer.
    if (!(cur?.state === 'bound' && cur.mac === mac && cur.expiresAt > now)) {
      this.leases.offer(mac, address, now + (this.#cfg.offerHold ?? 60) * 1000);
    }
    const reply = this.#reply(msg, MessageType.OFFER, address, true);
    return { event: 'offer', mac, address, reply, changed: true };
  }

  /** RFC 2131 4.3.2: DHCPREQUEST in the SELECTING, INIT-REBOOT, RENEWING and REBINDING states. */
  #request(msg: DhcpMessage, mac: string, now: number): Outcome {
    const serverId = optIp(msg, Opt.SERVER_ID);
    const requested = optIp(msg, Opt.REQUESTED_IP);
    if (serverId !== undefined) {
      // SELECTING: option 54 names the server the client chose, option 50 the offered address.
      if (serverId !== this.#cfg.serverId) {
        const held = this.leases.leaseOf(mac);
        let changed = false;
        if (held?.state === 'offered') {
          this.leases.release(held.address, now);
          changed = true;
        }
        // RFC 2131 4.3.2: "treat the message as notice that the client has declined the offer";
        // an authoritative server also NAKs it, since no other server should be on this LAN.
        if (this.#authoritative)
          return this.#nak(msg, mac, `unknown server id ${serverId}`, requested, changed);
        return this.#ignore(mac, `client selected server ${serverId}`, requested, changed);
      }
      const address = requested ?? (msg.ciaddr !== ZERO ? msg.ciaddr : undefined);
      if (address === undefined)
        return this.#nak(msg, mac, 'REQUEST with server id but no requested address');
      return this.#grant(msg, mac, address, now, false);
    }
    if (requested !== undefined) {
      // INIT-REBOOT: ciaddr is zero, option 50 is the address the client remembers.
      return this.#grant(msg, mac, requested, now, false);
    }
    if (msg.ciaddr !== ZERO) {
      // RENEWING (unicast) or REBINDING (broadcast): ciaddr is the client's address; the ACK is
      // unicast to it (RFC 2131 4.1).
      return this.#grant(msg, mac, msg.ciaddr, now, true);
    }
    return this.#nak(msg, mac, 'REQUEST names no address (no option 50, ciaddr zero)');
  }

  get #authoritative(): boolean {
    return this.#cfg.authoritative !== false;
  }

  #grant(msg: DhcpMessage, mac: string, address: string, now: number, unicast: boolean): Outcome {
    // RFC 2131 4.3.2 INIT-REBOOT: "If the client's notion of its IP address is not correct (e.g., the
    // client has moved to a new subnet), then the server SHOULD send a DHCPNAK."
    if (!this.leases.inSubnet(address))
      return this.#nak(msg, mac, `${address} is not on this network`, address);
    const st = this.leases.staticFor(mac);
    if (st !== undefined && st !== address) {
      return this.#nak(msg, mac, `${address} requested, but ${mac} has the reserved address ${st}`, address);
    }
    const ok = this.leases.availableFor(address, mac, now);
    if (!ok.ok) return this.#nak(msg, mac, ok.reason, address);
    const hostname = optString(msg, Opt.HOSTNAME);
    this.leases.bind(mac, address, now + this.#cfg.leaseTime * 1000, hostname);
    const reply = this.#reply(msg, MessageType.ACK, address, true);
    if (unicast) reply.to = msg.ciaddr;
    return { event: 'ack', mac, address, reply, changed: true };
  }

  #nak(msg: DhcpMessage, mac: string, reason: string, address?: string, changed = false): Outcome {
    // RFC 2131 4.3.2 table 3: a DHCPNAK carries only the message type, the server id and a message.
    const m = blank(BOOTREPLY, msg.xid, msg.chaddr);
    m.flags = msg.flags;
    m.options.set(Opt.MESSAGE_TYPE, encode.u8(MessageType.NAK));
    m.options.set(Opt.SERVER_ID, encode.ip(this.#cfg.serverId));
    m.options.set(Opt.MESSAGE, encode.str(reason.slice(0, 255)));
    // RFC 2131 4.1: "the server broadcasts any DHCPNAK messages to 0xffffffff".
    const reply = { msg: m, to: '255.255.255.255', port: CLIENT_PORT };
    return { event: 'nak', mac, reason, reply, changed, ...(address ? { address } : {}) };
  }

  /** RFC 2131 4.3.3: the client found the address in use; quarantine it (only the holder may). */
  #decline(msg: DhcpMessage, mac: string, now: number): Outcome {
    const serverId = optIp(msg, Opt.SERVER_ID);
    const address = optIp(msg, Opt.REQUESTED_IP);
    if (serverId !== this.#cfg.serverId)
      return this.#ignore(mac, `DECLINE for server ${serverId ?? '(none)'}`, address);
    if (address === undefined) return this.#ignore(mac, 'DECLINE without requested address (option 50)');
    const l: Lease | undefined = this.leases.get(address);
    if (l === undefined || l.mac !== mac) {
      return this.#ignore(mac, `DECLINE of ${address}, which is not leased to ${mac}`, address);
    }
    this.leases.decline(address, now + (this.#cfg.declineQuarantine ?? 600) * 1000);
    return {
      event: 'decline',
      mac,
      address,
      reason: 'address in use on the LAN (client DECLINE)',
      changed: true,
    };
  }

  /** RFC 2131 4.3.4: the client gives its address back (ciaddr). */
  #release(msg: DhcpMessage, mac: string, now: number): Outcome {
    const serverId = optIp(msg, Opt.SERVER_ID);
    if (serverId !== undefined && serverId !== this.#cfg.serverId) {
      return this.#ignore(mac, `RELEASE for server ${serverId}`, msg.ciaddr);
    }
    const l = this.leases.get(msg.ciaddr);
    if (l === undefined || l.mac !== mac || l.state !== 'bound') {
      return this.#ignore(mac, `RELEASE of ${msg.ciaddr}, which is not bound to ${mac}`, msg.ciaddr);
    }
    this.leases.release(msg.ciaddr, now);
    return { event: 'release', mac, address: msg.ciaddr, changed: true };
  }

  /** RFC 2131 4.3.5: configuration only, no lease: ACK unicast to ciaddr without yiaddr or lease time. */
  #inform(msg: DhcpMessage, mac: string): Outcome {
    if (msg.ciaddr === ZERO) return this.#ignore(mac, 'INFORM with ciaddr zero');
    const reply = this.#reply(msg, MessageType.ACK, ZERO, false);
    reply.to = msg.ciaddr;
    return { event: 'inform', mac, address: msg.ciaddr, reply, changed: false };
  }

  /** An OFFER or ACK with the configured options (RFC 2131 4.3.1 table 3, RFC 2132). */
  #reply(req: DhcpMessage, type: MessageType, yiaddr: string, withLease: boolean): Reply {
    const m = blank(BOOTREPLY, req.xid, req.chaddr);
    m.flags = req.flags;
    m.ciaddr = type === MessageType.ACK ? req.ciaddr : ZERO;
    m.yiaddr = yiaddr;
    const o = m.options;
    o.set(Opt.MESSAGE_TYPE, encode.u8(type));
    o.set(Opt.SERVER_ID, encode.ip(this.#cfg.serverId));
    if (withLease) {
      const t = this.#cfg.leaseTime;
      o.set(Opt.LEASE_TIME, encode.u32(t));
      // RFC 2131 4.4.5: T1 defaults to 0.5 and T2 to 0.875 of the lease.
      o.set(Opt.T1, encode.u32(Math.floor(t * 0.5)));
      o.set(Opt.T2, encode.u32(Math.floor(t * 0.875)));
    }
    o.set(Opt.SUBNET_MASK, encode.ip(this.#mask));
    o.set(Opt.BROADCAST_ADDR, encode.ip(this.leases.broadcast));
    o.set(Opt.ROUTER, encode.ips(this.#cfg.router ?? [this.#cfg.serverId]));
    o.set(Opt.DNS, encode.ips(this.#cfg.dns ?? [this.#cfg.serverId]));
    if (this.#cfg.domain) o.set(Opt.DOMAIN_NAME, encode.str(this.#cfg.domain));
    // RFC 2131 4.1: no unicast to an unconfigured client without writing its ARP entry, which a
    // UDP socket cannot: "the message MAY be sent as an IP broadcast".
    return { msg: m, to: '255.255.255.255', port: CLIENT_PORT };
  }
}
