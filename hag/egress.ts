// The HAG's side toward servers: resolve the destination (a name or an address), judge every
// address against the destination policy after resolution (no SSRF through DNS), and open plain
// kernel TCP from the configured source address. Failures come back as values with a reason the
// handshakes map to a SOCKS reply or a Convert Error TLV.
import { lookup } from 'node:dns/promises';
import type net from 'node:net';
import { connectSharedReads } from '../src/relay/kernel-input.js';
import { formatIp, parseIp } from './addr.js';
import type { DestinationPolicy } from './policy.js';

export type EgressFailure =
  | 'forbidden-destination'
  | 'dns-failure'
  | 'destination-refused'
  | 'destination-unreachable'
  | 'network-unreachable'
  | 'connect-timeout'
  | 'connect-failed';

export type EgressResult =
  | { ok: true; socket: net.Socket; address: string }
  | { ok: false; failure: EgressFailure; detail: string };

export interface EgressOptions {
  policy: DestinationPolicy;
  source4?: string;
  source6?: string;
  connectTimeoutMs: number;
}

export type Destination = { address: Uint8Array } | { name: string };

/** The addresses to dial for a destination, each allowed by the policy (or why none is). */
export async function resolveDestination(
  dst: Destination,
  policy: DestinationPolicy,
): Promise<{ ok: true; addresses: string[] } | { ok: false; failure: EgressFailure; detail: string }> {
  let candidates: Uint8Array[];
  if ('address' in dst) candidates = [dst.address];
  else {
    try {
      const found = await lookup(dst.name, { all: true, verbatim: true });
      candidates = found.map((f) => parseIp(f.address)).filter((a): a is Uint8Array => a !== undefined);
    } catch (e) {
      return {
        ok: false,
        failure: 'dns-failure',
        detail: `${dst.name}: ${(e as NodeJS.ErrnoException).code ?? e}`,
      };
    }
    if (candidates.length === 0)
      return { ok: false, failure: 'dns-failure', detail: `${dst.name}: no address` };
  }
  const allowed: string[] = [];
  let why = '';
  for (const a of candidates) {
    const v = policy.check(a);
    if (v.ok) allowed.push(formatIp(a));
    else why = `${formatIp(a)}: ${v.reason}`;
  }
  if (allowed.length === 0) return { ok: false, failure: 'forbidden-destination', detail: why };
  return { ok: true, addresses: allowed };
}

function failureOf(code: string | undefined): EgressFailure {
  switch (code) {
    case 'ECONNREFUSED':
      return 'destination-refused';
    case 'EHOSTUNREACH':
    case 'EHOSTDOWN':
      return 'destination-unreachable';
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return 'network-unreachable';
    case 'ETIMEDOUT':
      return 'connect-timeout';
    default:
      return 'connect-failed';
  }
}

/** A dial in progress; found by its socket's listeners (shared functions) until it settles. */
class Dial {
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly socket: DialSocket,
    readonly address: string,
    readonly port: number,
    private resolve: ((r: EgressResult) => void) | undefined,
  ) {}

  settle(r: EgressResult): void {
    const f = this.resolve;
    if (!f) return;
    this.resolve = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    // The socket forgets the dial: what stays per connection is a slot, not the dial.
    this.socket[DIAL] = undefined;
    f(r);
  }
}

const DIAL = Symbol('dial');
type DialSocket = net.Socket & { [DIAL]?: Dial | undefined };

function onDialConnect(this: DialSocket): void {
  const d = this[DIAL];
  d?.settle({ ok: true, socket: this, address: d.address });
}

function onDialError(this: DialSocket, e: NodeJS.ErrnoException): void {
  const d = this[DIAL];
  d?.settle({
    ok: false,
    failure: failureOf(e.code),
    detail: `${d.address}:${d.port}: ${e.code ?? e.message}`,
  });
}

function onDialTimeout(d: Dial, ms: number): void {
  d.socket.destroy();
  d.settle({
    ok: false,
    failure: 'connect-timeout',
    detail: `${d.address}:${d.port}: no answer in ${ms} ms`,
  });
}

/** Opens kernel TCP to `address`:`port`; resolves once connected or failed. */
export function dial(address: string, port: number, opts: EgressOptions): Promise<EgressResult> {
  return new Promise((resolve) => {
    const v6 = address.includes(':');
    const localAddress = v6 ? opts.source6 : opts.source4;
    // Its reads go straight into the client's MPTCP connection: into the shared buffer (the relay).
    const socket: DialSocket = connectSharedReads({
      host: address,
      port,
      localAddress,
      allowHalfOpen: true,
      noDelay: true,
    });
    // Plain listeners that stay, inert once settled (the relay adds its own): a once() listener
    // that fires deletes its key from the socket's event table, which turns the table into a
    // dictionary (448 bytes per idle connection in a heap snapshot of the HAG). They are functions
    // shared by every dial, which find theirs on the socket until it settled (a closure each and
    // their context were 230 bytes per idle connection at 18,000).
    const d = new Dial(socket, address, port, resolve);
    socket[DIAL] = d;
    d.timer = setTimeout(onDialTimeout, opts.connectTimeoutMs, d, opts.connectTimeoutMs);
    socket.on('connect', onDialConnect);
    socket.on('error', onDialError);
  });
}

/** Resolves, checks and dials: the first allowed address that answers. */
export async function connectEgress(
  dst: Destination,
  port: number,
  opts: EgressOptions,
): Promise<EgressResult> {
  const r = await resolveDestination(dst, opts.policy);
  if (!r.ok) return r;
  let last: EgressResult | undefined;
  for (const a of r.addresses.slice(0, 4)) {
    last = await dial(a, port, opts);
    if (last.ok || last.failure === 'destination-refused') return last;
  }
  return last!;
}
