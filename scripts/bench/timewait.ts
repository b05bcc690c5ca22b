// TIME-WAIT memory benchmark, in the simulator (virtual time, no root): `--conns` MPTCP connections
// between two endpoints open, carry a few bytes, and close both ways, `--batch` at a time; then the
// heap (after a full GC) is compared with the heap before: the bytes each closed connection still
// holds while its subflows wait out 2 MSL, and after that. Needs --expose-gc.
//   node --expose-gc dist/scripts/bench/timewait.js [--conns 10000] [--batch 500]

import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { Network } from '../../src/sim/index.js';
import { benchArgs } from './args.js';

const { values: a } = benchArgs({
  options: { conns: { type: 'string', default: '10000' }, batch: { type: 'string', default: '500' } },
});
const N = Number(a.conns);
const BATCH = Number(a.batch);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const A = Uint8Array.of(198, 18, 0, 1);
const B = Uint8Array.of(198, 19, 0, 1);

function heap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

/** TIME-WAIT records of an endpoint's stack (0 where the stack has none). */
function records(ep: MptcpEndpoint): number {
  const t = ep.tcp as unknown as { timeWaitStats?: { records: number } };
  return t.timeWaitStats?.records ?? 0;
}

const client = new MptcpEndpoint();
const server = new MptcpEndpoint();
const net = new Network({ seed: 1 });
net.addNode('a', client);
net.addNode('b', server);
const l = net.connect('a', 'b', { name: 'l', rate: 1e9, delay: 1 });
net.route('a', { dst: '198.19.0.0/16', via: l });
net.route('b', { dst: '198.18.0.0/16', via: l });
/** Connections whose both directions ended (the client saw the server's DATA_FIN), and closed ones. */
let ended = 0;
let closed = 0;
server.listen(
  80,
  (c) => {
    c.events.onReadable = () => c.recv(new Uint8Array(64));
    c.events.onEnd = () => {
      c.send(Buffer.from('bye'));
      c.close();
      server.wake(c);
    };
  },
  BATCH,
);

const base = heap();
const t0 = performance.now();
for (let done = 0; done < N; done += BATCH) {
  const target = ended + Math.min(BATCH, N - done);
  for (let i = 0; i < Math.min(BATCH, N - done); i++) {
    const c = client.connect(net.now, { local: A, remote: B, remotePort: 80 });
    c.events.onEstablished = () => {
      c.send(Buffer.from('hello'));
      c.close();
      client.wake(c);
    };
    c.events.onReadable = () => c.recv(new Uint8Array(64));
    c.events.onEnd = () => ended++;
    c.events.onClose = () => closed++;
    client.wake(c);
  }
  net.runUntil(() => ended >= target, 30_000);
}
// Let the last FIN/ACK exchanges and the short timers (delayed ACKs, retransmission) run out.
net.runFor(5000);
const held = heap();
const closedBefore2Msl = closed;
const tw = records(client) + records(server);
const inCore = client.tcp.connectionCount + server.tcp.connectionCount;
net.runFor(65_000); // 2 MSL
const after = heap();
const perConn = (b: number) => Math.round(b / N);
process.stdout.write(
  `${JSON.stringify({
    event: 'time-wait-memory',
    connections: N,
    ended,
    closedBefore2Msl,
    socketsInCore: inCore,
    timeWaitRecords: tw,
    heapPerClosedConnectionBytes: perConn(held - base),
    heapPerClosedConnectionAfter2MslBytes: perConn(after - base),
    wallSeconds: Math.round((performance.now() - t0) / 100) / 10,
  })}\n`,
);
