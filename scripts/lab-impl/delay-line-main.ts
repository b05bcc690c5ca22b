// The delay-line process of one lab link, started by `lab up` inside the link's namespace. It opens
// two TUN devices, one per direction; policy routing (ip rule iif ...) sends the link's forwarded
// traffic into them, and each packet, after its delay, is written back into the TUN it came from,
// so the kernel forwards it onward (iif is then the TUN, which the rules leave to the main table).
// A Unix socket takes JSON-line commands: {"cmd":"stats"}, {"cmd":"burst","percent":P,"seconds":S}.
// Usage: node delay-line-main.js '<json DelayLineProcessConfig>'
import { unlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { configureLink, Tun } from '../../src/io/tun-tap/index.js';
import { DelayLine } from './delay-line.js';

export interface DirectionConfig {
  tun: string;
  delayMs: number;
  jitterMs: number;
  lossPercent: number;
}

export interface DelayLineProcessConfig {
  link: string;
  socket: string;
  seed: number;
  reorder: boolean;
  up: DirectionConfig;
  down: DirectionConfig;
}

const MTU = 1500;

function main(): void {
  const config = JSON.parse(process.argv[2] ?? '') as DelayLineProcessConfig;
  const lines: Record<'up' | 'down', { tun: Tun; line: DelayLine; writeErrors: number }> = {} as never;
  let seed = config.seed;
  for (const dir of ['up', 'down'] as const) {
    const d = config[dir];
    const tun = Tun.open({ name: d.tun, mtu: MTU });
    configureLink(tun.name, { mtu: MTU, txQueueLen: 1000 });
    const entry = {
      tun,
      writeErrors: 0,
      line: new DelayLine({
        delayMs: d.delayMs,
        jitterMs: d.jitterMs,
        lossPercent: d.lossPercent,
        reorder: config.reorder,
        seed: seed++,
        emit: (packet) => {
          try {
            if (!tun.write(packet)) entry.writeErrors++;
          } catch {
            entry.writeErrors++;
          }
        },
      }),
    };
    lines[dir] = entry;
    tun.read(
      (data, lengths, count) => {
        for (let i = 0; i < count; i++) entry.line.push(tun.packet(data, lengths, i));
        entry.line.flush();
      },
      (err) => {
        process.stderr.write(`delay line ${config.link} ${dir}: read failed: ${err.message}\n`);
        process.exit(1);
      },
    );
  }

  const stats = () => ({
    link: config.link,
    pid: process.pid,
    up: { ...lines.up.line.stats, writeErrors: lines.up.writeErrors },
    down: { ...lines.down.line.stats, writeErrors: lines.down.writeErrors },
  });

  try {
    unlinkSync(config.socket);
  } catch {
    /* not there */
  }
  const server = createServer((conn) => {
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('error', () => {});
    conn.on('data', (chunk: string) => {
      buf += chunk;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        conn.write(`${JSON.stringify(handle(line))}\n`);
        nl = buf.indexOf('\n');
      }
    });
  });
  const handle = (line: string): unknown => {
    let req: { cmd?: string; percent?: number; seconds?: number };
    try {
      req = JSON.parse(line);
    } catch {
      return { ok: false, error: 'not JSON' };
    }
    if (req.cmd === 'stats') return { ok: true, ...stats() };
    if (req.cmd === 'burst') {
      const { percent, seconds } = req;
      if (typeof percent !== 'number' || percent < 0 || percent > 100) {
        return { ok: false, error: 'percent must be 0..100' };
      }
      if (typeof seconds !== 'number' || seconds < 0) return { ok: false, error: 'seconds must be >= 0' };
      lines.up.line.burst(percent, seconds);
      lines.down.line.burst(percent, seconds);
      return { ok: true };
    }
    return { ok: false, error: `unknown command ${JSON.stringify(req.cmd)}` };
  };
  server.listen(config.socket);

  const stop = () => {
    server.close();
    for (const e of Object.values(lines)) {
      e.line.close();
      e.tun.close();
    }
    try {
      unlinkSync(config.socket);
    } catch {
      /* gone */
    }
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
