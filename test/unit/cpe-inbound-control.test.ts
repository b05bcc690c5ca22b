// The CPE's inbound control connection (cpe/daemon/inbound-control.ts) as a state machine, on a
// stand-in for the core's connection and fake timers: it registers the forwards' ranges with this
// CPE run's id, reports REGISTERED and INCOMING, pings every keepalive and gives up after three
// unanswered, retries after a failure with the delay doubling up to 15 s (and from the start again
// once registered; each delay jittered into its upper half), and treats no uplink, no answer, a
// malformed message and a HAG that stops reading as failures.
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HagLink } from '../../cpe/daemon/hag-link.js';
import { type ControlOwner, InboundControl } from '../../cpe/daemon/inbound-control.js';
import { CONTROL_QUEUE_MAX, encodeInbound, REJECT_REASON } from '../../src/inbound/index.js';
import type { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import type { ClientPathManager } from '../../src/mptcp/pm/client.js';
import { PipeConn } from './lib/pipe-conn.js';

const OWNER = new Uint8Array(16).fill(5);
const RANGES = [
  { first: 8080, last: 8080 },
  { first: 9000, last: 9009 },
];

let conns: PipeConn[];
let usable: boolean;
let reports: string[];
let control: InboundControl;

/** The control connection, started; `random` its jitter (0: each retry after exactly the delay). */
function start(random = () => 0): void {
  const pm = {
    initialAddress: () => (usable ? {} : undefined),
    connect: () => {
      if (!usable) return undefined;
      const c = new PipeConn();
      conns.push(c);
      return c;
    },
  } as unknown as ClientPathManager;
  const owner: ControlOwner = {
    registered: (status) => reports.push(`registered ${status.join(',')}`),
    incoming: (m, hag) =>
      reports.push(`incoming ${m.port} from ${m.address.join('.')}:${m.peerPort} via ${hag}`),
    down: (reason) => reports.push(`down ${reason}`),
  };
  control = new InboundControl(
    {
      port: 5125,
      keepaliveMs: 10_000,
      retryMs: 2000,
      timeoutMs: 3000,
      ranges: RANGES,
      owner: OWNER,
      now: () => Date.now(),
      random,
    },
    { wake: () => {} } as unknown as MptcpEndpoint,
    pm,
    { pick: () => '198.18.100.1' } as unknown as HagLink,
    owner,
    pino({ level: 'silent' }),
  );
  control.start();
}

/** Lets the streams' reads and writes (process.nextTick, microtasks) run. */
const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  conns = [];
  usable = true;
  reports = [];
});

afterEach(() => {
  control.stop();
  vi.useRealTimers();
});

describe('CPE inbound control connection', () => {
  it('registers the ranges with its id, then reports REGISTERED and INCOMING', async () => {
    start();
    await settle();
    expect(control.state).toBe('connecting');
    const c = conns[0];
    expect(c.sent[0]).toMatchObject({ type: 'register', version: 1, ranges: RANGES });
    expect([...(c.sent[0] as { owner: Uint8Array }).owner]).toEqual([...OWNER]);
    c.feed({ type: 'registered', status: [0, 1] });
    await settle();
    expect(control.state).toBe('up');
    c.feed({
      type: 'incoming',
      ticket: new Uint8Array(16),
      index: 1,
      port: 9003,
      address: Uint8Array.of(198, 18, 30, 2),
      peerPort: 40000,
    });
    await settle();
    expect(reports).toEqual(['registered 0,1', 'incoming 9003 from 198.18.30.2:40000 via 198.18.100.1']);
  });

  it('pings every keepalive; three unanswered end it, and it is opened again after the retry delay', async () => {
    start();
    await settle();
    conns[0].feed({ type: 'registered', status: [0, 0] });
    await settle();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(conns[0].types()).toEqual(['register', 'ping']);
    conns[0].feed({ type: 'pong' });
    await vi.advanceTimersByTimeAsync(30_000); // pings at 20, 30, 40 s, the last answer at 10 s
    expect(control.state).toBe('up');
    await vi.advanceTimersByTimeAsync(10_000); // 50 s: 40 s without an answer
    expect(control.state).toBe('down');
    expect(control.reason).toBe('no answer to 3 keepalives');
    expect(conns[0].aborted).toBe(true);
    expect(reports.at(-1)).toBe('down no answer to 3 keepalives');
    await vi.advanceTimersByTimeAsync(2000);
    expect(conns.length).toBe(2);
    expect(conns[1].sent[0]?.type).toBe('register');
  });

  it('no registration answer, no uplink, a malformed message: failures, retried 2, 4, 8, 15, 15 s apart', async () => {
    start();
    await settle();
    await vi.advanceTimersByTimeAsync(3000);
    expect(control.reason).toBe('no registration answer within 3000 ms');
    usable = false;
    const at: number[] = [];
    for (const wait of [2000, 4000, 8000, 15_000, 15_000]) {
      await vi.advanceTimersByTimeAsync(wait - 1);
      const before = reports.length;
      await vi.advanceTimersByTimeAsync(1);
      at.push(reports.length - before);
    }
    expect(at).toEqual([1, 1, 1, 1, 1]); // each retry came exactly then, and failed at once
    expect(control.reason).toBe('no usable uplink');
    usable = true;
    await vi.advanceTimersByTimeAsync(15_000);
    const c = conns.at(-1)!;
    c.feed(Buffer.from([99, 0, 0]));
    await settle();
    expect(control.reason).toMatch(/^malformed message from the HAG: unknown message type 99/);
    // Registered once more: the delay starts from 2 s again.
    await vi.advanceTimersByTimeAsync(15_000);
    conns.at(-1)!.feed({ type: 'registered', status: [0, 0] });
    await settle();
    conns.at(-1)!.abort();
    conns.at(-1)!.events.onClose?.(new Error('reset'));
    await settle();
    expect(control.state).toBe('down');
    const n = conns.length;
    await vi.advanceTimersByTimeAsync(2000);
    expect(conns.length).toBe(n + 1);
  });

  it('a HAG that stops reading fails the connection before its queue passes CONTROL_QUEUE_MAX', async () => {
    start();
    await settle();
    conns[0].feed({ type: 'registered', status: [0, 0] });
    await settle();
    conns[0].taking = false;
    // Rejects for a flood of INCOMINGs the LAN host refused, none of them read by the HAG.
    const reject = encodeInbound({ type: 'reject', ticket: new Uint8Array(16), reason: 1 }).length;
    for (let i = 0; i < CONTROL_QUEUE_MAX / reject + 10 && control.state === 'up'; i++)
      control.reject(new Uint8Array(16), REJECT_REASON.lanRefused);
    expect(control.state).toBe('down');
    expect(control.reason).toMatch(/^the HAG leaves its control connection unread/);
    expect(conns[0].aborted).toBe(true);
  });

  it('the retry delay is jittered into [retry/2, retry): CPEs that lost their HAG together come back apart', async () => {
    start(() => 0.5); // three quarters of each delay
    await settle();
    await vi.advanceTimersByTimeAsync(3000); // no registration answer: down
    expect(control.state).toBe('down');
    await vi.advanceTimersByTimeAsync(1499);
    expect(conns.length).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(conns.length).toBe(2); // 1.5 s, not 2 s
    await vi.advanceTimersByTimeAsync(3000); // down again: the next delay 4 s x 0.75
    await vi.advanceTimersByTimeAsync(2999);
    expect(conns.length).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(conns.length).toBe(3);
  });
});
