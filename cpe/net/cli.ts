// Command-line runner for the CPE's network plumbing: `node cpe/net/cli.js setup|teardown '<json
// CpeNetConfig>'` applies or removes the kernel state; `listen '<json {port}>'` runs a transparent
// listener that reports each accepted connection's original destination as a JSON line and tells
// the client too ("intercepted <address> <port>"). Used by the system tests inside namespaces.
import { commandLine } from '../../src/command-line.js';
import { createLogger } from '../../src/daemon/logger.js';
import { setup, teardown } from './apply.js';
import type { CpeNetConfig } from './plan.js';
import { listenTransparent } from './transparent.js';

const out = (ev: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ ev, ...fields })}\n`);

const USAGE = `usage: cpe-net setup|teardown '<json CpeNetConfig>'
       cpe-net listen '<json {port}>'
`;

async function main(): Promise<void> {
  const { positionals } = commandLine(process.argv.slice(2), {
    command: 'cpe-net',
    usage: USAGE,
    options: {},
    allowPositionals: true,
  });
  const [cmd, json] = positionals;
  const cfg = JSON.parse(json ?? '{}');
  const logger = createLogger({ level: 'info', priority: 'none', base: { name: 'cpe-net' } });
  if (cmd === 'setup' || cmd === 'teardown') {
    const r = (cmd === 'setup' ? setup : teardown)(cfg as CpeNetConfig, { logger });
    out(cmd, r);
    process.exit(r.ok ? 0 : 1);
  }
  if (cmd === 'listen') {
    const l = await listenTransparent({ port: cfg.port }, (c) => {
      out('accepted', { destination: c.destination, source: c.source });
      c.socket.on('error', () => {});
      c.socket.end(`intercepted ${c.destination.address} ${c.destination.port}\n`);
    });
    out('listening', { port: cfg.port });
    const end = () => l.close().then(() => process.exit(0));
    process.on('SIGTERM', end);
    process.on('SIGINT', end);
    return;
  }
  process.stderr.write(`cpe-net: unknown command ${cmd ?? '(none)'} (see cpe-net --help)\n`);
  process.exit(2);
}

main().catch((e) => {
  out('fatal', { message: (e as Error).message });
  process.exit(1);
});
