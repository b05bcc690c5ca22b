// Failover-gap client of the lab benchmark: downloads over HTTP/1.0 for a fixed time, stamps every
// read, and prints one JSON line: bytes, the longest time without data after `--mark-at` ms (when
// the benchmark takes a link down) and before it, goodput before the mark, between the mark and
// `--restore-at` (when the link comes back), and from 3 s after that to the end (does the same
// connection use the link again?). Runs in the lab's client namespace; the CPE's transparent proxy
// (ours or the kernel baseline) carries it.
//   node dist/scripts/bench/lab-gap-client.js --url http://198.18.30.2:8000/big --seconds 20 \
//     --mark-at 5000 --restore-at 11000
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { benchArgs } from './args.js';

const { values: a } = benchArgs({
  options: {
    url: { type: 'string' },
    seconds: { type: 'string', default: '15' },
    'mark-at': { type: 'string', default: '5000' },
    'restore-at': { type: 'string' },
  },
});
const url = new URL(a.url ?? '');
const durationMs = Number(a.seconds) * 1000;
const markAt = Number(a['mark-at']);
const restoreAt = a['restore-at'] === undefined ? durationMs : Number(a['restore-at']);
/** Time the restored link gets (probes, a new subflow, its slow start) before it counts. */
const SETTLE_MS = 3000;

const t0 = performance.now();
const stamps: { t: number; n: number }[] = [];
const sock = connect({ host: url.hostname, port: Number(url.port || 80) });
sock.setNoDelay(true);
sock.on('connect', () => {
  sock.write(`GET ${url.pathname} HTTP/1.0\r\nHost: ${url.host}\r\n\r\n`);
});
sock.on('data', (d: Buffer) => {
  stamps.push({ t: performance.now() - t0, n: d.length });
});

function report(error?: string): void {
  let maxBefore = 0;
  let maxAfter = 0;
  let gapAt = 0;
  let bytesBefore = 0;
  let bytesAfter = 0;
  let bytesDown = 0;
  let bytesRestored = 0;
  let prev = stamps[0]?.t ?? 0;
  for (const s of stamps) {
    const gap = s.t - prev;
    // A gap that spans the mark counts as after it: it is the failover's.
    if (s.t > markAt) {
      if (gap > maxAfter) {
        maxAfter = gap;
        gapAt = prev;
      }
      bytesAfter += s.n;
      if (s.t <= restoreAt) bytesDown += s.n;
      else if (s.t > restoreAt + SETTLE_MS) bytesRestored += s.n;
    } else {
      maxBefore = Math.max(maxBefore, gap);
      bytesBefore += s.n;
    }
    prev = s.t;
  }
  // No data at all since some time before the end: that silence is a gap too.
  const end = Math.min(performance.now() - t0, durationMs);
  if (end - prev > maxAfter && prev > markAt - 1000) {
    maxAfter = end - prev;
    gapAt = prev;
  }
  const first = stamps[0]?.t ?? 0;
  process.stdout.write(
    `${JSON.stringify({
      bytes: bytesBefore + bytesAfter,
      maxGapBeforeMs: Math.round(maxBefore),
      maxGapAfterMs: Math.round(maxAfter),
      gapStartsAtMs: Math.round(gapAt),
      mbpsBefore: (bytesBefore * 8) / 1000 / Math.max(1, markAt - first),
      mbpsAfter: (bytesDown * 8) / 1000 / Math.max(1, Math.min(end, restoreAt) - markAt),
      mbpsRestored:
        end > restoreAt + SETTLE_MS ? (bytesRestored * 8) / 1000 / (end - restoreAt - SETTLE_MS) : undefined,
      error,
    })}\n`,
  );
}

setTimeout(() => {
  report();
  sock.destroy();
  process.exit(0);
}, durationMs);
sock.on('error', (e) => {
  report(e.message);
  process.exit(1);
});
sock.on('end', () => {
  report('the server ended the download early');
  process.exit(1);
});
