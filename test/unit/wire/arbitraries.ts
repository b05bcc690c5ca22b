// fast-check generators of valid plain-object forms for every header and option of the wire
// layer, shared by the round-trip and fuzz tests.
import fc from 'fast-check';
import {
  type IpRepr,
  type MptcpOption,
  type Packet,
  type TcpOption,
  type TcpRepr,
  tcpLen,
  tcpOptionsLen,
} from '../../../src/wire/index.js';

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

export const mpCapable = fc.oneof(
  fc.record({
    type: fc.constant('mp_capable' as const),
    version: fc.integer({ min: 0, max: 15 }),
    flags: u8,
  }),
  fc.record({
    type: fc.constant('mp_capable' as const),
    version: fc.integer({ min: 0, max: 15 }),
    flags: u8,
    senderKey: bytes(8),
  }),
  fc.record({
    type: fc.constant('mp_capable' as const),
    version: fc.integer({ min: 0, max: 15 }),
    flags: u8,
    senderKey: bytes(8),
    receiverKey: bytes(8),
  }),
  fc.record({
    type: fc.constant('mp_capable' as const),
    version: fc.integer({ min: 0, max: 15 }),
    flags: u8,
    senderKey: bytes(8),
    receiverKey: bytes(8),
    dataLen: u16,
  }),
  fc.record({
    type: fc.constant('mp_capable' as const),
    version: fc.integer({ min: 0, max: 15 }),
    flags: u8,
    senderKey: bytes(8),
    receiverKey: bytes(8),
    dataLen: u16,
    checksum: u16,
  }),
);

export const mpJoin = fc.oneof(
  fc.record({
    type: fc.constant('mp_join' as const),
    form: fc.constant('syn' as const),
    backup: fc.boolean(),
    addressId: u8,
    token: u32,
    nonce: u32,
  }),
  fc.record({
    type: fc.constant('mp_join' as const),
    form: fc.constant('synack' as const),
    backup: fc.boolean(),
    addressId: u8,
    hmac: bytes(8),
    nonce: u32,
  }),
  fc.record({ type: fc.constant('mp_join' as const), form: fc.constant('ack' as const), hmac: bytes(20) }),
);

/** Every combination of DSS flags: data ACK absent/4/8, mapping absent/DSN 4/DSN 8, checksum, DATA_FIN. */
export const dss = fc
  .record({
    dataFin: fc.boolean(),
    ack: fc.constantFrom(0, 4, 8),
    map: fc.constantFrom(0, 4, 8),
    csum: fc.boolean(),
    dataAck: u32,
    dataAckHigh: u32,
    dsn: u32,
    dsnHigh: u32,
    ssn: u32,
    dataLen: u16,
    checksum: u16,
  })
  .map((x) => {
    const r: MptcpOption & { type: 'dss' } = { type: 'dss', dataFin: x.dataFin };
    if (x.ack) {
      r.dataAck = x.dataAck;
      if (x.ack === 8) r.dataAckHigh = x.dataAckHigh;
    }
    if (x.map) {
      r.dsn = x.dsn;
      if (x.map === 8) r.dsnHigh = x.dsnHigh;
      r.ssn = x.ssn;
      r.dataLen = x.dataLen;
      if (x.csum) r.checksum = x.checksum;
    }
    return r;
  });

export const addAddr = fc
  .record({
    echo: fc.boolean(),
    addressId: u8,
    address: fc.oneof(bytes(4), bytes(16)),
    port: fc.option(u16, { nil: undefined }),
    hmac: fc.option(bytes(8), { nil: undefined }),
  })
  .map((x) => {
    const r: MptcpOption & { type: 'add_addr' } = {
      type: 'add_addr',
      echo: x.echo,
      addressId: x.addressId,
      address: x.address,
    };
    if (x.port !== undefined) r.port = x.port;
    if (x.hmac !== undefined) r.hmac = x.hmac;
    return r;
  });

export const removeAddr = fc.record({
  type: fc.constant('remove_addr' as const),
  addressIds: fc.array(u8, { minLength: 1, maxLength: 37 }),
});

export const mpPrio = fc.oneof(
  fc.record({ type: fc.constant('mp_prio' as const), backup: fc.boolean() }),
  fc.record({ type: fc.constant('mp_prio' as const), backup: fc.boolean(), addressId: u8 }),
);

export const mpFail = fc.record({ type: fc.constant('mp_fail' as const), dsnHigh: u32, dsn: u32 });
export const mpFastclose = fc.record({ type: fc.constant('mp_fastclose' as const), receiverKey: bytes(8) });
export const mpTcprst = fc.record({
  type: fc.constant('mp_tcprst' as const),
  flags: fc.integer({ min: 0, max: 15 }),
  reason: u8,
});

export const mptcpOption: fc.Arbitrary<MptcpOption> = fc.oneof(
  mpCapable,
  mpJoin,
  dss,
  addAddr,
  removeAddr,
  mpPrio,
  mpFail,
  mpFastclose,
  mpTcprst,
);

/** Kinds the parser knows, excluded from the "unknown option" generator. */
const KNOWN_KINDS = new Set([0, 1, 2, 3, 4, 5, 8, 30, 34]);

export const tcpOption: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant({ type: 'nop' as const }),
  fc.record({ type: fc.constant('mss' as const), mss: u16 }),
  fc.record({ type: fc.constant('window_scale' as const), shift: u8 }),
  fc.constant({ type: 'sack_permitted' as const }),
  fc.record({
    type: fc.constant('sack' as const),
    blocks: fc.array(fc.record({ left: u32, right: u32 }), { minLength: 1, maxLength: 4 }),
  }),
  fc.record({ type: fc.constant('timestamp' as const), tsval: u32, tsecr: u32 }),
  fc.record({
    type: fc.constant('fast_open' as const),
    cookie: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 4, maxLength: 16 })),
  }),
  fc.record({
    type: fc.constant('unknown' as const),
    kind: u8.filter((k) => !KNOWN_KINDS.has(k)),
    data: fc.uint8Array({ maxLength: 10 }),
  }),
  mptcpOption,
);

/** Option lists that fit in the 40 bytes of a TCP header. */
export const tcpOptions = fc.array(tcpOption, { maxLength: 6 }).filter((opts) => tcpOptionsLen(opts) <= 40);

export const tcp: fc.Arbitrary<TcpRepr> = fc.record({
  srcPort: u16,
  dstPort: u16,
  seq: u32,
  ack: u32,
  flags: fc.integer({ min: 0, max: 0x1ff }),
  window: u16,
  urgent: u16,
  options: tcpOptions,
  payload: fc.uint8Array({ maxLength: 200 }),
});

export const ipv4 = fc.record({
  version: fc.constant(4 as const),
  src: bytes(4),
  dst: bytes(4),
  protocol: u8,
  ttl: u8,
  dscp: fc.integer({ min: 0, max: 63 }),
  ecn: fc.integer({ min: 0, max: 3 }),
  ident: u16,
  dontFrag: fc.boolean(),
  moreFrags: fc.boolean(),
  fragOffset: fc.integer({ min: 0, max: 0x1fff }).map((x) => x * 8),
  options: fc.integer({ min: 0, max: 10 }).chain((w) => bytes(w * 4)),
  payloadLen: fc.integer({ min: 0, max: 300 }),
});

export const ipv6 = fc.record({
  version: fc.constant(6 as const),
  src: bytes(16),
  dst: bytes(16),
  nextHeader: u8.filter((h) => ![0, 43, 44, 60].includes(h)),
  hopLimit: u8,
  trafficClass: u8,
  flowLabel: fc.integer({ min: 0, max: 0xfffff }),
  payloadLen: fc.integer({ min: 0, max: 300 }),
});

/** Whole IP/TCP packets, checksums implied (emitPacket computes them). */
export const tcpPacket: fc.Arbitrary<Packet> = fc
  .record({ ip: fc.oneof(ipv4, ipv6) as fc.Arbitrary<IpRepr>, tcp })
  .map(({ ip, tcp }) => {
    const payloadLen = tcpLen(tcp);
    const ipFixed: IpRepr =
      ip.version === 4
        ? { ...ip, protocol: 6, moreFrags: false, fragOffset: 0, payloadLen }
        : { ...ip, nextHeader: 6, payloadLen };
    return { ip: ipFixed, tcp };
  });
