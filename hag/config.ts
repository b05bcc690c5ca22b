// The HAG's configuration: the schema of config/hag.yaml (validated by src/config with file:line
// errors) and its typed form. See config/schema/hag.md for every setting.
import {
  type ConfigResult,
  type HostFacts,
  parseConfig,
  readConfigFile,
  s,
  thisHost,
} from '../src/config/index.js';
import { SCHEDULER_NAMES } from '../src/mptcp/sched/index.js';
import { CONGESTION_CONTROL_NAMES } from '../src/tcp/cc/index.js';
import { crossCheck } from './config-check.js';

const port = () => s.int({ min: 1, max: 65535 });
const ifname = () =>
  s.str({ pattern: /^[A-Za-z0-9_.-]{1,15}$/, what: 'an interface name of 1-15 characters' });

const user = s.object({
  username: s.str({ maxLength: 255 }),
  password: s.str({ maxLength: 255 }),
});

const cookie = s.object({
  name: s.str(),
  // RFC 8803 4.2.5: an opaque value; here hex, 4..255 bytes... bounded by the 1020-byte message.
  cookie: s.str({ pattern: /^([0-9a-fA-F]{2}){4,64}$/, what: 'a hex string of 4 to 64 bytes' }),
});

export const hagSchema = s.object({
  tun: s.optional(
    s.object({
      name: s.optional(ifname(), 'hag0'),
      mtu: s.optional(s.int({ min: 1280, max: 9000 }), 1500),
      /** Set net.ipv4.ip_forward / net.ipv6.conf.all.forwarding: replies leave the TUN through the kernel. */
      forwarding: s.optional(s.bool(), true),
      /** TUN offloads (checksum, TSO, GRO'd reads): 'auto' probes them at start, 'off' forces the plain TUN. */
      offload: s.optional(s.oneOf(['auto', 'off']), 'auto'),
      /**
       * After a read of data that emptied the TUN's queue, wait this long (ms) before reading again.
       * 0 (at once) on the HAG: held off there, the upload lost 5-10% on bench-lab (README).
       */
      rxHoldoffMs: s.optional(s.int({ min: 0, max: 10 }), 0),
    }),
    { name: 'hag0', mtu: 1500, forwarding: true, offload: 'auto' as const, rxHoldoffMs: 0 },
  ),
  service: s.object({
    /** Addresses the HAG answers on: routed into the TUN, owned by the userspace core. */
    addresses: s.list(s.ipAddress(), { min: 1 }),
    /**
     * Unicast join addresses, one per worker and family (worker i takes the i-th of each family):
     * set, the HAG sets MP_CAPABLE's C flag (RFC 8684 3.1) and announces its worker's with ADD_ADDR,
     * so that the joins of a connection reach the worker (and host) holding it while ECMP spreads
     * the service addresses over workers and hosts (hag/workers/).
     */
    joinAddresses: s.optional(s.list(s.ipAddress()), []),
    convert: s.optional(
      s.object({
        port: port(),
        /** Per-CPE cookies (RFC 8803 Cookie TLV); when any is set, a Connect needs one. */
        cookies: s.optional(s.list(cookie), []),
        /**
         * TCP Fast Open (RFC 7413) for the Convert port, so that the Connect TLV rides in the SYN
         * and the HAG dials the server before the handshake ends (RFC 8803's 0-RTT).
         */
        fastOpen: s.optional(
          s.object({
            enabled: s.optional(s.bool(), true),
            /** Secret of the cookies (16 bytes hex); random at each start when unset. */
            key: s.optional(s.str({ pattern: /^[0-9a-fA-F]{32}$/, what: '16 bytes in hex' }), undefined),
            /**
             * Take SYN data from subscriber prefixes even without a valid cookie (RFC 7413 leaves
             * this to server policy). Off: a SYN's data is taken only with a cookie the HAG made
             * for that source address, so a forged source cannot make the HAG dial anything.
             */
            acceptWithoutCookie: s.optional(s.bool(), false),
          }),
          { enabled: true, key: undefined, acceptWithoutCookie: false },
        ),
      }),
      undefined,
    ),
    socks: s.optional(
      s.object({
        port: port(),
        /** RFC 1929 users; when any is set, username/password authentication is required. */
        users: s.optional(s.list(user), []),
      }),
      undefined,
    ),
    /**
     * Inbound port forwarding (hag/inbound.ts, src/inbound/wire.ts): CPEs open a control
     * connection to `port` on the service addresses and register public port ranges; the HAG
     * listens on them on its `listen` addresses when `allow` opens them to that subscriber, and
     * carries each connection a client makes there to the CPE over a new MPTCP connection the
     * CPE opens (so it works behind carrier NAT on every line).
     */
    inbound: s.optional(
      s.object({
        port: port(),
        /** The HAG's public addresses the forwarded ports are opened on (addresses of this host). */
        listen: s.list(s.ipAddress(), { min: 1 }),
        /**
         * Which subscribers may open which public ports: the first rule whose prefixes hold the
         * control connection's source address decides; a range must lie inside one of its ports.
         */
        allow: s.optional(
          s.list(
            s.object({
              subscribers: s.list(s.cidr(), { min: 1 }),
              ports: s.list(s.portRange(), { min: 1 }),
            }),
          ),
          [],
        ),
        /** Public ports one control connection may hold at most. */
        maxPorts: s.optional(s.int({ min: 1, max: 4096 }), 64),
        /** How long an inbound connection waits for the CPE's attach connection before it is reset. */
        attachTimeout: s.optional(s.duration(), 10_000),
        /** A control connection silent for this long (the CPE pings every 30 s by default) is closed. */
        idleTimeout: s.optional(s.duration(), 120_000),
      }),
      undefined,
    ),
    /**
     * Transparent mode (a HAG on the path of the subscribers' uplinks): MPTCP SYNs to any
     * destination are diverted into the TUN (hag/transparent-divert.ts), terminated by the core
     * and relayed to that destination over plain TCP; everything else is forwarded unchanged.
     */
    transparent: s.optional(
      s.object({
        /** Interfaces the subscribers' uplinks arrive on; empty: every interface but the TUN. */
        interfaces: s.optional(s.list(ifname()), []),
        /** Packet and conntrack mark of the diverted flows, and the routing table into the TUN. */
        mark: s.optional(s.int({ min: 1, max: 0x7fffffff }), 0x4841),
        table: s.optional(s.int({ min: 1, max: 0x7fffffff }), 4841),
        rulePriority: s.optional(s.int({ min: 1, max: 32000 }), 10000),
      }),
      undefined,
    ),
  }),
  egress: s.optional(
    s.object({
      source4: s.optional(s.ipAddress(), undefined),
      source6: s.optional(s.ipAddress(), undefined),
      connectTimeout: s.optional(s.duration(), 10_000),
      idleTimeout: s.optional(s.duration(), 3_600_000),
    }),
    { source4: undefined, source6: undefined, connectTimeout: 10_000, idleTimeout: 3_600_000 },
  ),
  access: s.object({
    /** Client (CPE uplink or phone) prefixes allowed to connect. */
    subscribers: s.list(s.cidr(), { min: 1 }),
    /**
     * Where MP_JOINs may come from: a subscriber prefix, as initial subflows (default), or any
     * address (roaming phones whose other network is not a subscriber prefix).
     */
    joins: s.optional(s.oneOf(['subscribers', 'any']), 'subscribers'),
    /** Destinations refused besides loopback, link-local, multicast and the HAG's own addresses. */
    internalNetworks: s.optional(s.list(s.cidr()), []),
    /**
     * Destinations opened inside the ranges refused by default (private, shared, benchmarking,
     * documentation, unique-local, ...: hag/policy.ts REFUSED_BY_DEFAULT); each must lie in one.
     */
    allowDestinations: s.optional(s.list(s.cidr()), []),
    /** Acknowledges that subscribers wider than /8 (IPv4) or /16 (IPv6) may use an unauthenticated service. */
    openProxy: s.optional(s.bool(), false),
    /** New connections per client per second (0: no limit) and the burst allowed. */
    rateLimit: s.optional(s.object({ perSecond: s.num({ min: 0 }), burst: s.int({ min: 1 }) }), {
      perSecond: 50,
      burst: 100,
    }),
  }),
  /**
   * Names for the client address ranges of each access type (e.g. dsl, lte): subflows and their
   * bytes are counted per name in the metrics and named in the logs ("other" when none matches).
   */
  uplinks: s.optional(
    s.list(
      s.object({
        name: s.str({
          pattern: /^[A-Za-z0-9_.-]{1,32}$/,
          what: 'a name of letters, digits, "_", "-", "." (1-32)',
        }),
        prefixes: s.list(s.cidr(), { min: 1 }),
      }),
    ),
    [],
  ),
  /**
   * How downloads are scheduled when the client says nothing: a CPE sends its home's policy with
   * each Convert connection (src/convert/policy.ts) and that wins; SOCKS5 clients (phones) and
   * Convert clients without it get the first rule whose subscriber prefixes hold the client's
   * address, else `default`.
   */
  scheduling: s.optional(
    s.object({
      default: s.optional(s.oneOf(SCHEDULER_NAMES), 'min-rtt'),
      rules: s.optional(
        s.list(s.object({ subscribers: s.list(s.cidr(), { min: 1 }), scheduler: s.oneOf(SCHEDULER_NAMES) })),
        [],
      ),
    }),
    { default: 'min-rtt' as const, rules: [] },
  ),
  /**
   * Worker processes, each with its own TUN, core and join addresses; the kernel's ECMP (a
   * resilient nexthop group) spreads the service addresses over them. 0: one per core, as many as
   * service.joinAddresses has of each family (1 without join addresses).
   */
  workers: s.optional(s.int({ min: 0, max: 64 }), 0),
  mptcp: s.optional(
    s.object({
      maxSubflows: s.optional(s.int({ min: 1, max: 8 }), 8),
      checksum: s.optional(s.bool(), false),
      bufferBytes: s.optional(s.int({ min: 65536, max: 64 << 20 }), 4 << 20),
      /** Congestion control of every subflow (and plain TCP connection): cubic, newreno or bbr. */
      congestionControl: s.optional(s.oneOf(CONGESTION_CONTROL_NAMES), 'cubic'),
      /**
       * ADD_ADDR (RFC 8684 3.4.1): other-family announces the service addresses of the family a
       * connection did not begin with (a CPE's IPv6-only line joins the IPv6 one), none announces nothing.
       */
      announce: s.optional(s.oneOf(['other-family', 'none']), 'other-family'),
    }),
    {
      maxSubflows: 8,
      checksum: false,
      bufferBytes: 4 << 20,
      congestionControl: 'cubic' as const,
      announce: 'other-family' as const,
    },
  ),
  tcp: s.optional(
    s.object({
      // SYN cookies (RFC 4987): auto uses them only while a SYN queue or the half-open bound is full.
      synCookies: s.optional(s.oneOf(['auto', 'always', 'never']), 'auto'),
      maxHalfOpen: s.optional(s.int({ min: 16, max: 1 << 20 }), 4096),
      // How long a connection the HAG has closed waits in FIN-WAIT-2 for the peer's FIN (Linux tcp_fin_timeout).
      finTimeout: s.optional(s.duration(), 60_000),
      /**
       * RFC 9040 path sharing (src/tcp/path-metrics.ts): a new subflow toward a CPE uplink address
       * starts from the RTT, window and ssthresh recent ones to it left (a 100 KB download in one
       * window instead of three rounds of slow start); false: every one starts at RFC 6928's window.
       */
      pathSharing: s.optional(s.bool(), true),
    }),
    { synCookies: 'auto' as const, maxHalfOpen: 4096, finTimeout: 60_000, pathSharing: true },
  ),
  limits: s.optional(
    s.object({
      handshakeTimeout: s.optional(s.duration(), 10_000),
      maxConnections: s.optional(s.int({ min: 1 }), 100_000),
      drainTimeout: s.optional(s.duration(), 30_000),
    }),
    { handshakeTimeout: 10_000, maxConnections: 100_000, drainTimeout: 30_000 },
  ),
  metrics: s.optional(s.object({ address: s.optional(s.ipAddress(), '127.0.0.1'), port: port() }), undefined),
  log: s.optional(
    s.object({
      level: s.optional(s.oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal']), 'info'),
      // Each connection's open and close lines at info (else debug): src/daemon/logger.ts.
      connections: s.optional(s.bool(), false),
    }),
    { level: 'info' as const, connections: false },
  ),
});

export type HagConfig = s.Infer<typeof hagSchema>;

export function parseHagConfig(
  text: string,
  file: string,
  host: HostFacts = thisHost,
): ConfigResult<HagConfig> {
  const r = parseConfig(text, file, hagSchema);
  return r.ok ? crossCheck(file, text, r.value, host) : r;
}

export function loadHagConfig(file: string, host: HostFacts = thisHost): ConfigResult<HagConfig> {
  return readConfigFile(file, (text, f) => parseHagConfig(text, f, host));
}
