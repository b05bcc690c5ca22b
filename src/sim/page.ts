// A page load in the simulator, as the lab's page workload (scripts/bench/lab-page.ts) does it
// through the daemons: objects fetched over at most `parallel` MPTCP connections from the CPE to
// the HAG, one request at a time per connection (HTTP/1.1 keep-alive); a request is a small
// message naming the object's size, the HAG's side answers with that many bytes. The figure is
// the time until all objects arrived, with each object's timeline and the bytes per uplink.
import type { MptcpConnection } from '../mptcp/connection.js';
import { type SchedulerName, scheduler } from '../mptcp/sched/index.js';
import { type HybridOptions, hybridNet, type UplinkSpec } from './hybrid.js';

const HAG = Uint8Array.of(198, 19, 0, 1);
const PORT = 80;
/** A request: the object's size (4 bytes, big-endian) and padding, about an HTTP GET's length. */
const REQUEST = 120;

/** One object of a page load, times in ms from the load's start (here virtual time; in the lab, wall). */
export interface PageObjectTimes {
  size: number;
  /** Which of the load's connections carried it (0, 1, ...: in the order they were first used). */
  conn: number;
  /** The request was written to the connection (for a connection's first: once it connected). */
  sent: number;
  /** The first and the last byte of the response's body arrived. */
  first: number;
  last: number;
}

export interface PageRun {
  /** Time until all objects arrived, ms. */
  ms: number;
  objects: PageObjectTimes[];
  /** Payload bytes the HAG's subflows sent per uplink (index as `links`). */
  perUplink: number[];
}

export interface PageOptions extends HybridOptions {
  scheduler?: SchedulerName;
  /** Give up after this much virtual time (ms). */
  maxMs?: number;
  /**
   * Loads of the page one after the other on the same network, each over fresh connections
   * (default 1); the figures are the last one's, with times from its start. Loads after the first
   * find what the earlier connections learnt of the paths, when the endpoints share it
   * (HybridOptions.pathMetrics).
   */
  loads?: number;
}

/** Loads a page of objects of `sizes` bytes over at most `parallel` connections, from time 0. */
export function pageLoad(
  links: UplinkSpec[],
  sizes: readonly number[],
  parallel: number,
  o: PageOptions = {},
): PageRun {
  const { net, cpe, hag, pm } = hybridNet(links, o);
  const servers: MptcpConnection[] = [];
  const body = new Uint8Array(64 * 1024);
  hag.listen(PORT, (c) => {
    // The HAG follows the CPE's congestion control per uplink, as from its Convert policy TLV: by
    // the address ID the CPE's subflow signalled, 0 for the initial one (over the first link).
    const cc = links.flatMap((l, i) =>
      l.congestionControl
        ? [{ id: i + 1, cc: l.congestionControl }, ...(i === 0 ? [{ id: 0, cc: l.congestionControl }] : [])]
        : [],
    );
    if (cc.length) c.peerPolicy(o.scheduler ?? 'min-rtt', [], cc);
    else if (o.scheduler) c.scheduler = scheduler(o.scheduler);
    servers.push(c);
    const req = new Uint8Array(REQUEST);
    let got = 0;
    let owed = 0;
    const pump = () => {
      while (owed > 0) {
        const n = c.send(body, 0, Math.min(owed, body.length));
        if (n === 0) break;
        owed -= n;
      }
      hag.wake(c);
    };
    const read = () => {
      for (;;) {
        const n = c.recv(req, got, REQUEST - got);
        if (n === 0) break;
        got += n;
        if (got === REQUEST) {
          owed += new DataView(req.buffer).getUint32(0);
          got = 0;
        }
      }
      pump();
    };
    c.events = { onReadable: read, onWritable: pump, onEnd: () => c.close() };
    // What arrived with the handshake, before the application took the connection.
    read();
  });
  let objects: PageObjectTimes[] = [];
  let next = 0;
  let done = 0;
  let t0 = 0;
  const rx = new Uint8Array(64 * 1024);
  const open = (k: number) => {
    const c = pm.connect(0, HAG, PORT);
    if (!c) throw new Error('no usable uplink');
    let cur: PageObjectTimes | undefined;
    let left = 0;
    const request = () => {
      if (next >= objects.length) return;
      cur = objects[next++];
      cur.conn = k;
      cur.sent = net.now - t0;
      left = cur.size;
      const req = new Uint8Array(REQUEST);
      new DataView(req.buffer).setUint32(0, cur.size);
      if (c.send(req, 0, REQUEST) !== REQUEST) throw new Error('request did not fit the send buffer');
      cpe.wake(c);
    };
    c.events = {
      onEstablished: request,
      onReadable: () => {
        for (;;) {
          const n = c.recv(rx, 0, rx.length);
          if (n === 0) break;
          if (!cur) throw new Error('data with no request');
          if (left === cur.size) cur.first = net.now - t0;
          left -= n;
          if (left < 0) throw new Error('more bytes than asked for');
          if (left === 0) {
            cur.last = net.now - t0;
            cur = undefined;
            done++;
            if (next < objects.length) request();
            else c.close();
          }
        }
        cpe.wake(c);
      },
    };
    cpe.wake(c);
  };
  const loads = o.loads ?? 1;
  for (let n = 0; n < loads; n++) {
    // Half a second between loads (the closed connections' handshakes end), then fresh ones.
    if (n > 0) net.runUntil(() => false, 500);
    objects = sizes.map((size) => ({ size, conn: -1, sent: 0, first: 0, last: 0 }));
    next = 0;
    done = 0;
    t0 = net.now;
    servers.length = 0;
    for (let k = 0; k < Math.min(parallel, sizes.length); k++) open(k);
    net.runUntil(() => done === objects.length, o.maxMs ?? 30_000);
    if (done !== objects.length) throw new Error(`page load: ${done} of ${objects.length} objects arrived`);
  }
  const perUplink = links.map((_, i) =>
    servers.reduce(
      (t, c) =>
        t +
        c.subflows
          .filter((f) => f.socket.tuple.remote[2] === i + 1)
          .reduce((n, f) => n + f.socket.stats.bytesOut, 0),
      0,
    ),
  );
  return { ms: Math.max(...objects.map((x) => x.last)), objects, perUplink };
}
