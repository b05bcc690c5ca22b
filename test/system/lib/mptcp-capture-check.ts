// Checks a capture of an MPTCP connection with tshark's dissector (test/system only): every data
// segment lies inside a DSS mapping seen on its subflow (or the MP_CAPABLE first-data mapping),
// the mapped data sequence is continuous in each direction, and tshark raised no MPTCP expert
// warning on a data segment. tshark links segments to mappings but flags neither a missing DSS
// nor a gap in the data sequence (DESIGN.md), hence this script over its field output.
import { execFileSync } from 'node:child_process';

export interface CaptureCheck {
  dataSegments: number;
  /** Data segments not inside any mapping of their subflow. */
  unmapped: string[];
  /** Holes in the mapped data sequence, per direction. */
  gaps: string[];
  /** MPTCP expert messages on data segments. */
  mptcpWarnings: string[];
  /** Subflows (TCP streams) that carried data, per sender address. */
  subflowsBySender: Record<string, number>;
}

const FIELDS = [
  'frame.number',
  'tcp.stream',
  'ip.src',
  'tcp.seq',
  'tcp.len',
  'tcp.options.mptcp.subtype',
  'tcp.options.mptcp.rawdataseqno',
  'tcp.options.mptcp.subflowseqno',
  'tcp.options.mptcp.datalvllen',
  'tcp.options.mptcp.datafin.flag',
  'mptcp.dss.missing_mapping',
  '_ws.expert.message',
];

interface Mapping {
  ssn: number;
  len: number;
}

export function checkMptcpCapture(pcap: string): CaptureCheck {
  const out = execFileSync(
    'tshark',
    [
      '-r',
      pcap,
      '-T',
      'fields',
      '-E',
      'separator=\t',
      '-E',
      'occurrence=a',
      ...FIELDS.flatMap((f) => ['-e', f]),
    ],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    },
  );
  const maps = new Map<string, Mapping[]>(); // stream|src -> mappings (subflow sequence space)
  const dsn = new Map<string, [bigint, bigint][]>(); // src direction -> DSN ranges
  const segs: { key: string; frame: string; seq: number; len: number; dir: string }[] = [];
  const warnings: string[] = [];
  const streamsBySender = new Map<string, Set<string>>();
  const dirOf = (src: string) => (src.endsWith('.2') ? 'ours' : 'kernel');
  for (const line of out.split('\n')) {
    const f = line.split('\t');
    if (f.length < FIELDS.length || f[1] === '') continue;
    const [frame, stream, src, seqS, lenS, subtypes, rawDsn, ssnS, dllS, fin, missing, expert] = f;
    const key = `${stream}|${src}`;
    const seq = Number(seqS);
    const len = Number(lenS);
    const st = subtypes.split(',');
    const dir = dirOf(src);
    if (st.includes('2') && ssnS !== '' && dllS !== '') {
      const dll = Number(dllS.split(',')[0]);
      const ssn = Number(ssnS.split(',')[0]);
      const dataLen = dll - (fin.split(',')[0] === '1' ? 1 : 0);
      if (ssn > 0 && dataLen > 0) {
        const list = maps.get(key) ?? [];
        if (!list.some((m) => m.ssn === ssn && m.len === dataLen)) list.push({ ssn, len: dataLen });
        maps.set(key, list);
        const start = BigInt(rawDsn.split(',')[0]);
        const r = dsn.get(dir) ?? [];
        r.push([start, start + BigInt(dataLen)]);
        dsn.set(dir, r);
      }
    } else if (st.includes('0') && dllS !== '' && len > 0) {
      // MP_CAPABLE with data: the implied mapping at subflow sequence 1 (RFC 8684 3.1).
      const list = maps.get(key) ?? [];
      list.push({ ssn: 1, len: Number(dllS.split(',')[0]) });
      maps.set(key, list);
    }
    if (len > 0) {
      segs.push({ key, frame, seq, len, dir });
      const set = streamsBySender.get(src) ?? new Set();
      set.add(stream);
      streamsBySender.set(src, set);
      if (missing !== '' || /mptcp|mapping|dss/i.test(expert))
        warnings.push(`frame ${frame}: ${expert || 'missing mapping'}`);
    }
  }
  const unmapped: string[] = [];
  for (const s of segs) {
    const list = maps.get(s.key) ?? [];
    if (!list.some((m) => s.seq >= m.ssn && s.seq + s.len <= m.ssn + m.len))
      unmapped.push(`frame ${s.frame} (${s.key} seq ${s.seq} len ${s.len})`);
  }
  const gaps: string[] = [];
  for (const [dir, ranges] of dsn) {
    ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let end = ranges[0][1];
    for (const [a, b] of ranges.slice(1)) {
      if (a > end) gaps.push(`${dir}: no mapping for DSN ${end}..${a}`);
      if (b > end) end = b;
    }
  }
  const subflowsBySender: Record<string, number> = {};
  for (const [src, set] of streamsBySender) subflowsBySender[src] = set.size;
  return { dataSegments: segs.length, unmapped, gaps, mptcpWarnings: warnings, subflowsBySender };
}
