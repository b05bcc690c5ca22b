// Command-line runner for one uplink probe: `node cpe/probe/cli.js '<json ProbeOptions>'` prints
// up/down events and each result as JSON lines until SIGTERM. Used by the system tests inside
// network namespaces, and handy for checking an uplink by hand.
import { commandLine } from '../../src/command-line.js';
import { createLogger } from '../../src/daemon/logger.js';
import { type ProbeOptions, UplinkProbe } from './probe.js';

const out = (ev: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ ev, ...fields })}\n`);

const { positionals } = commandLine(process.argv.slice(2), {
  command: 'cpe-probe',
  usage: "usage: cpe-probe '<json ProbeOptions>'\n",
  options: {},
  allowPositionals: true,
});
const opts = JSON.parse(positionals[0] ?? '{}') as ProbeOptions & { logLevel?: string };
try {
  const p = new UplinkProbe({
    ...opts,
    logger: createLogger({ level: opts.logLevel ?? 'info', priority: 'none', base: { name: 'probe' } }),
  });
  p.on('up', (e) => out('up', e));
  p.on('down', (e) => out('down', e));
  p.on('result', (r) => out('result', r));
  p.start();
  out('started', { family: p.family });
  const end = () => {
    p.stop();
    out('stopped', { status: p.status() });
    process.exit(0);
  };
  process.on('SIGTERM', end);
  process.on('SIGINT', end);
} catch (e) {
  out('fatal', { message: (e as Error).message });
  process.exit(1);
}
