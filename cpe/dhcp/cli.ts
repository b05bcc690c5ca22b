// Command-line runner for the DHCP server (and client): `node cpe/dhcp/cli.js server '<json options>'`
// serves until SIGTERM/SIGINT; events go to stdout as JSON lines ({"ev": ...}) beside pino's logs.
// Used by the system tests to run the server inside a network namespace, and handy for debugging.
import { execFileSync } from 'node:child_process';
import { commandLine } from '../../src/command-line.js';
import { createLogger } from '../../src/daemon/logger.js';
import {
  applyLeaseCommands,
  DhcpClient,
  type DhcpClientOptions,
  type DhcpLease,
  removeLeaseCommands,
} from './client.js';
import { DhcpServer, type DhcpServerOptions } from './server.js';

const out = (ev: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ ev, ...fields })}\n`);

async function server(opts: DhcpServerOptions): Promise<() => Promise<void>> {
  const s = await DhcpServer.start(opts);
  s.on('bound', (lease) => out('bound', { lease }));
  s.on('released', (lease) => out('released', { lease }));
  s.on('declined', (address, mac) => out('declined', { address, mac }));
  s.on('expired', (lease) => out('expired', { lease }));
  s.on('error', (err) => out('error', { message: err.message }));
  out('listening', { leases: s.leases });
  return () => s.close();
}

/** Runs a client; with `apply`, puts the leased address on the interface and removes it when lost. */
async function client(
  opts: DhcpClientOptions & { apply?: boolean; logLevel?: string },
): Promise<() => Promise<void>> {
  const c = new DhcpClient({
    ...opts,
    logger: createLogger({ level: opts.logLevel ?? 'info', priority: 'none', base: { name: 'dhcp-client' } }),
  });
  let current: DhcpLease | undefined;
  const run = (cmds: string[][]) => {
    for (const [cmd, ...args] of cmds) execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  c.on('state', (state) => out('state', { state }));
  c.on('bound', (lease) => {
    if (opts.apply) run(applyLeaseCommands(opts.interface, lease, current));
    current = lease;
    out('bound', { lease });
  });
  c.on('renewed', (lease) => {
    if (opts.apply) run(applyLeaseCommands(opts.interface, lease, current));
    current = lease;
    out('renewed', { lease });
  });
  c.on('lost', (lease, reason) => {
    if (opts.apply) run(removeLeaseCommands(opts.interface, lease));
    current = undefined;
    out('lost', { lease, reason });
  });
  c.start();
  out('started', { mac: c.mac });
  return async () => c.release();
}

async function main(): Promise<void> {
  const { positionals } = commandLine(process.argv.slice(2), {
    command: 'cpe-dhcp',
    usage: "usage: cpe-dhcp server|client '<json options>'\n",
    options: {},
    allowPositionals: true,
  });
  const [role, json] = positionals;
  const opts = JSON.parse(json ?? '{}');
  let stop: () => Promise<void>;
  if (role === 'server') stop = await server(opts);
  else if (role === 'client') stop = await client(opts);
  else {
    process.stderr.write(`cpe-dhcp: unknown role ${role ?? '(none)'} (see cpe-dhcp --help)\n`);
    process.exit(2);
  }
  const end = () => {
    stop().then(() => {
      out('closed');
      process.exit(0);
    });
  };
  process.on('SIGTERM', end);
  process.on('SIGINT', end);
}

main().catch((e) => {
  out('fatal', { message: (e as Error).message });
  process.exit(1);
});
