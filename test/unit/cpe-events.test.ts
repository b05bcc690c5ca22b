// The event hook (cpe/events/hook.ts, issue 15 item 5): a test webhook on loopback gets the JSON
// body, retries with backoff after failures, gives up after `retries`; a full queue drops the
// oldest waiting event (counted) while emit never waits; a command (argv, no shell) gets the JSON
// on stdin and the event's name in its environment and writes them to a temp file. And the daemon
// wiring: the 80% warning and the exhaustion of a quota reach the webhook.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCpeConfig } from '../../cpe/daemon/config.js';
import { CpeDaemon, hookConfig } from '../../cpe/daemon/daemon.js';
import { EventHook, type EventsConfig } from '../../cpe/events/hook.js';
import { NODE_COMMAND } from './lib/node-command.js';
import { tempDir } from './lib/temp-dir.js';

const log = pino({ level: 'silent' });

/** A webhook on 127.0.0.1 that records bodies and answers each with `status()` (or holds it). */
async function webhook(status: (n: number) => number | 'hold') {
  const bodies: Record<string, unknown>[] = [];
  const held: http.ServerResponse[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    let b = '';
    req.on('data', (d) => {
      b += d;
    });
    req.on('end', () => {
      const s = status(n++);
      bodies.push({ ...JSON.parse(b), _type: req.headers['content-type'], _auth: req.headers.authorization });
      if (s === 'hold') held.push(res);
      else res.writeHead(s).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  servers.push(server);
  return { url, bodies, held };
}
const servers: http.Server[] = [];
const hooks: EventHook[] = [];
afterEach(() => {
  for (const h of hooks.splice(0)) h.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

// The delivery timeout is far above a command's run time anywhere: a Node that starts under qemu-user
// on a loaded host (the aarch64 tier) takes 2 s. No test here is about the timeout.
function hook(c: Partial<EventsConfig>): EventHook {
  const h = new EventHook(
    { command: undefined, webhook: undefined, timeout: 30_000, retries: 3, backoff: 10, queue: 10, ...c },
    log,
  );
  hooks.push(h);
  return h;
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

describe('event hook', () => {
  it('POSTs the JSON body to the webhook and retries with backoff until it is taken', async () => {
    const w = await webhook((n) => (n < 2 ? 503 : 204));
    const h = hook({ webhook: { url: w.url, headers: { authorization: 'Bearer t' } } });
    h.emit('uplink-down', { uplink: 'dsl', reason: '3 echoes lost' });
    await until(() => h.stats().webhook.sent === 1);
    expect(w.bodies).toHaveLength(3);
    expect(w.bodies[2]).toMatchObject({
      event: 'uplink-down',
      uplink: 'dsl',
      reason: '3 echoes lost',
      _type: 'application/json',
      _auth: 'Bearer t',
    });
    expect(typeof w.bodies[2].time).toBe('string');
    expect(h.stats().webhook).toMatchObject({ sent: 1, retries: 2, failed: 0 });
  });

  it('gives up after the configured retries and goes on with the next event', async () => {
    const w = await webhook((n) => (n < 2 ? 500 : 200));
    const h = hook({ webhook: { url: w.url, headers: {} }, retries: 1 });
    h.emit('hag-unreachable');
    h.emit('hag-back');
    await until(() => h.stats().webhook.sent === 1);
    expect(h.stats().webhook).toMatchObject({ failed: 1, sent: 1, retries: 1 });
    expect(w.bodies.map((b) => b.event)).toEqual(['hag-unreachable', 'hag-unreachable', 'hag-back']);
  });

  it('a full queue drops the oldest waiting event, counted; emit never waits', async () => {
    const w = await webhook(() => 'hold');
    const h = hook({ webhook: { url: w.url, headers: {} }, queue: 2 });
    for (const e of ['uplink-down', 'uplink-up', 'quota-warning', 'quota-exhausted', 'quota-reset'] as const)
      h.emit(e);
    // emit returned each time before any delivery: nothing sent, all queued or dropped. (Not a time
    // bound: under qemu-user on a loaded host these five calls take over 50 ms.)
    expect(h.stats().webhook).toMatchObject({ dropped: 2, queued: 2, sent: 0 });
    await until(() => w.held.length === 1);
    for (;;) {
      const r = w.held.shift();
      if (r) r.writeHead(200).end();
      if (h.stats().webhook.sent === 3) break;
      await new Promise((res) => setTimeout(res, 5));
    }
    expect(w.bodies.map((b) => b.event)).toEqual(['uplink-down', 'quota-exhausted', 'quota-reset']);
  });

  it('runs the command without a shell: the JSON on stdin, the name in HYBRID_ACCESS_EVENT', async () => {
    const file = join(tempDir('ha-events-'), 'events.txt');
    const script =
      "const fs = require('fs'); fs.appendFileSync(process.argv[1], process.env.HYBRID_ACCESS_EVENT + ' ' + fs.readFileSync(0, 'utf8') + '\\n')";
    const h = hook({ command: [NODE_COMMAND, '-e', script, file] });
    h.emit('quota-warning', { uplink: 'lte', used: 80 });
    h.emit('uplink-up', { uplink: 'dsl; rm -rf /' });
    await until(() => h.stats().command.sent === 2);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines[0].startsWith('quota-warning {')).toBe(true);
    expect(JSON.parse(lines[0].slice('quota-warning '.length))).toMatchObject({
      event: 'quota-warning',
      uplink: 'lte',
      used: 80,
    });
    expect(JSON.parse(lines[1].slice('uplink-up '.length)).uplink).toBe('dsl; rm -rf /');
  });

  it('a failing command is retried, then counted failed', async () => {
    const h = hook({ command: [NODE_COMMAND, '-e', 'process.exit(3)'], retries: 2 });
    h.emit('hag-back');
    await until(() => h.stats().command.failed === 1);
    expect(h.stats().command).toMatchObject({ retries: 2, sent: 0 });
  });
});

describe('CPE daemon events', () => {
  it("the quota's 80% warning and its exhaustion reach the webhook", async () => {
    const w = await webhook(() => 200);
    const dir = tempDir('ha-events-');
    const yaml = `lan: {interface: lan0, addresses: [198.18.5.1/24]}
uplinks:
  - {name: dsl, interface: dsl0, address: 198.18.11.2/24, gateway: 198.18.11.1, role: primary}
  - {name: lte, interface: lte0, address: 198.18.12.2/24, gateway: 198.18.12.1, role: overflow, quota: {bytes: 1MB}}
hag: {addresses: [198.18.100.1]}
state: {directory: ${dir}}
events: {webhook: {url: "${w.url}"}, backoff: 10ms}
`;
    const r = parseCpeConfig(yaml, 'cpe.yaml', { interfaceExists: (n) => n !== 'cpe0' });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(hookConfig(r.value).webhook?.url).toBe(w.url);
    const d = new CpeDaemon(r.value, log);
    hooks.push(d.events);
    const lte0 = { rx: 0, tx: 0, key: 'boot/3' };
    d.uplinks.readCounters = () => ({ ...lte0 });
    d.uplinks.tick();
    lte0.rx = 850_000;
    d.uplinks.tick();
    lte0.tx = 200_000;
    d.uplinks.tick();
    d.uplinks.setHealth(d.uplinks.list[0], 'down', 'echo-lost', '3 echoes lost');
    d.hag.failed('no MPTCP handshake');
    await until(() => w.bodies.length === 4);
    expect(w.bodies.map((b) => b.event)).toEqual([
      'quota-warning',
      'quota-exhausted',
      'uplink-down',
      'hag-unreachable',
    ]);
    expect(w.bodies[0]).toMatchObject({ uplink: 'lte', used: 850_000, limit: 1_000_000 });
    expect(w.bodies[1]).toMatchObject({ uplink: 'lte', used: 1_050_000 });
    d.hag.stop();
  });
});
