// Where the time of a short download goes: packet captures (tcpdump, headers only) in the lab's
// client, CPE and HAG namespaces while the sequential 100 KB downloads run, cut into one timeline
// per LAN connection: the LAN host's SYN, the CPE's SYN to the HAG (our core's, or the kernel
// relay's MPTCP SYN; how many data bytes it carried), the join over LTE, the HAG's SYN to the
// server and its SYN/ACK, the request reaching the server, the first byte at the HAG, at the CPE
// and at the LAN host, and the last byte at the LAN host. All namespaces share the host's clock.
// The downloads run one after the other, so connection i on every leg is the one that starts in
// [LAN SYN i, LAN SYN i+1).
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ADDR, LabError, nsName, runDir } from '../lab-impl/lab.js';

/** The namespaces captured: each one's tcpdump sees all its interfaces (-i any). */
const CAPTURED = ['client', 'cpe', 'hag'] as const;
type Captured = (typeof CAPTURED)[number];

export interface Capture {
  /** Stops tcpdump and returns each namespace's lines. */
  stop(): Promise<Record<Captured, string[]>>;
}

/** Starts one tcpdump per captured namespace (TCP headers and options only); resolves once all listen. */
export async function startCapture(prefix: string, name: string): Promise<Capture> {
  const procs: { ns: Captured; child: ChildProcess; file: string }[] = [];
  const kill = () => {
    for (const p of procs) p.child.kill('SIGKILL');
  };
  try {
    for (const ns of CAPTURED) {
      const file = join(runDir(prefix), `timeline-${name}-${ns}.txt`);
      const fd = openSync(file, 'w');
      const child = spawn(
        'ip',
        ['netns', 'exec', nsName(prefix, ns), 'tcpdump', '-i', 'any', '-nn', '-tt', '-l', '-s', '160', 'tcp'],
        { stdio: ['ignore', fd, 'pipe'] },
      );
      closeSync(fd);
      procs.push({ ns, child, file });
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new LabError(`tcpdump in ${ns} did not start`)), 10_000);
        const lines = createInterface({ input: child.stderr! });
        lines.on('line', (l) => {
          if (!l.includes('listening on')) return;
          clearTimeout(t);
          resolve();
        });
        child.once('exit', () => {
          clearTimeout(t);
          reject(new LabError(`tcpdump in ${ns} exited`));
        });
      });
    }
  } catch (e) {
    kill();
    throw e;
  }
  return {
    async stop() {
      // tcpdump writes what it has on SIGINT; give the last packets a moment to be printed.
      await new Promise((r) => setTimeout(r, 300));
      await Promise.all(
        procs.map(
          (p) =>
            new Promise<void>((resolve) => {
              if (p.child.exitCode !== null) return resolve();
              p.child.once('exit', () => resolve());
              p.child.kill('SIGINT');
              setTimeout(() => p.child.kill('SIGKILL'), 3000).unref();
            }),
        ),
      );
      const out = {} as Record<Captured, string[]>;
      for (const p of procs) out[p.ns] = readFileSync(p.file, 'utf8').split('\n');
      return out;
    },
  };
}

/** One captured TCP segment. */
interface Seg {
  t: number;
  dev: string;
  out: boolean;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  flags: string;
  len: number;
  line: string;
}

// "1796191432.893364 eth0  Out IP 198.18.1.2.52260 > 198.18.30.2.8000: Flags [S], seq ..., length 0"
const LINE =
  /^(\d+\.\d+) (\S+)\s+(In|Out)\s+IP6? (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\].*length (\d+)/;

function parse(lines: string[]): Seg[] {
  const out: Seg[] = [];
  for (const line of lines) {
    const m = LINE.exec(line);
    if (!m) continue;
    out.push({
      t: Number(m[1]) * 1000,
      dev: m[2],
      out: m[3] === 'Out',
      src: m[4],
      sport: Number(m[5]),
      dst: m[6],
      dport: Number(m[7]),
      flags: m[8],
      len: Number(m[9]),
      line,
    });
  }
  return out;
}

/** The steps of a timeline, in order, with what each one is. */
export const STEPS = [
  ['lanSynAck', "LAN host gets the SYN/ACK (the CPE's kernel)"],
  ['lanRequest', 'LAN host sends its request'],
  ['cpeSyn', "CPE's SYN to the HAG leaves (DSL)"],
  ['joinSyn', "CPE's MP_JOIN SYN leaves (LTE)"],
  ['hagSyn', "HAG's SYN to the server"],
  ['serverSynAck', "server's SYN/ACK at the HAG"],
  ['serverRequest', 'request reaches the server'],
  ['hagFirstByte', 'first byte at the HAG (from the server)'],
  ['cpeFirstByte', 'first byte at the CPE (from the server, after the HAG reply)'],
  ['lanFirstByte', 'first byte at the LAN host'],
  ['lanLastByte', 'last byte at the LAN host'],
] as const;
export type Step = (typeof STEPS)[number][0];

export interface Timeline {
  /** Milliseconds after the LAN host's SYN; NaN when the capture did not show the step. */
  at: Record<Step, number>;
  /** Data bytes the CPE's SYN to the HAG carried (TCP Fast Open). */
  synData: number;
  /** Payload bytes that reached the CPE over LTE. */
  lteBytes: number;
}

/**
 * One timeline per LAN connection to the server's `port`, from the captures; `hagPort` is where the
 * CPE side connects (our HAG's Convert port, or the kernel relay's); `replyLen`: the length of the
 * HAG's own reply that comes before the server's bytes (our Convert header), if any.
 */
export function timelines(
  cap: Record<Captured, string[]>,
  o: { port: number; hagPort: number; replyLen?: number },
): Timeline[] {
  const client = parse(cap.client);
  const cpe = parse(cap.cpe).filter((s) => s.dev === 'dsl0' || s.dev === 'lte0');
  const hag = parse(cap.hag).filter((s) => s.dev === 'srv0');
  const server = ADDR.server.hag;
  const syns = client.filter((s) => s.out && s.flags === 'S' && s.dst === server && s.dport === o.port);
  const result: Timeline[] = [];
  for (let i = 0; i < syns.length; i++) {
    const syn = syns[i];
    const t0 = syn.t;
    const end = i + 1 < syns.length ? syns[i + 1].t : Number.POSITIVE_INFINITY;
    const inWin = (s: Seg) => s.t >= t0 && s.t < end;
    const lan = client.filter((s) => inWin(s) && (s.sport === syn.sport || s.dport === syn.sport));
    const up = cpe.filter(inWin);
    const egress = hag.filter((s) => inWin(s) && (s.dport === o.port || s.sport === o.port));
    const first = (xs: Seg[], f: (s: Seg) => boolean) => xs.find(f);
    const last = (xs: Seg[], f: (s: Seg) => boolean) => xs.findLast(f);
    const rel = (s: Seg | undefined) => (s ? s.t - t0 : Number.NaN);
    const isSyn = (s: Seg) => s.flags === 'S';
    const mpSyn = first(
      up,
      (s) => s.out && isSyn(s) && s.dport === o.hagPort && s.line.includes('capable') && s.dev === 'dsl0',
    );
    const at: Record<Step, number> = {
      lanSynAck: rel(first(lan, (s) => !s.out && s.flags === 'S.')),
      lanRequest: rel(first(lan, (s) => s.out && s.len > 0)),
      cpeSyn: rel(mpSyn),
      joinSyn: rel(first(up, (s) => s.out && isSyn(s) && s.dport === o.hagPort && s.line.includes('join'))),
      hagSyn: rel(first(egress, (s) => s.out && isSyn(s))),
      serverSynAck: rel(first(egress, (s) => !s.out && s.flags === 'S.')),
      serverRequest: rel(first(egress, (s) => s.out && s.len > 0)),
      hagFirstByte: rel(first(egress, (s) => !s.out && s.len > 0)),
      cpeFirstByte: rel(
        first(up, (s) => !s.out && s.sport === o.hagPort && s.len > 0 && s.len !== o.replyLen),
      ),
      lanFirstByte: rel(first(lan, (s) => !s.out && s.len > 0)),
      lanLastByte: rel(last(lan, (s) => !s.out && s.len > 0)),
    };
    const lteBytes = up
      .filter((s) => !s.out && s.dev === 'lte0' && s.sport === o.hagPort)
      .reduce((n, s) => n + s.len, 0);
    result.push({ at, synData: mpSyn?.len ?? Number.NaN, lteBytes });
  }
  return result;
}

/** The median of each step (and of the SYN's data and LTE's bytes) over the timelines. */
export function medianTimeline(ts: Timeline[], percentile: (xs: number[], p: number) => number): Timeline {
  const med = (f: (t: Timeline) => number) => percentile(ts.map(f).filter(Number.isFinite), 50);
  const at = {} as Record<Step, number>;
  for (const [k] of STEPS) at[k] = med((t) => t.at[k]);
  return { at, synData: med((t) => t.synData), lteBytes: med((t) => t.lteBytes) };
}
