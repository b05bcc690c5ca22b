// The CPE's id toward the HAG's inbound forwarding (cpe/daemon/inbound-id.ts): made once and kept
// in the state directory (mode 0600), the same after a restart; a file that holds no id is
// replaced, and a directory that cannot be written still gives an id (logged).
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { inboundIdFile, loadInboundId } from '../../cpe/daemon/inbound-id.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'inbound-id-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function logger() {
  const events: string[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => events.push(JSON.parse(l).event) });
  return { log, events };
}

describe('CPE inbound id', () => {
  it('is made once and kept: the same after a restart, mode 0600', () => {
    const dir = join(tmp(), 'state');
    const { log, events } = logger();
    const a = loadInboundId(dir, log);
    expect(a.length).toBe(16);
    expect(readFileSync(inboundIdFile(dir), 'utf8')).toBe(`${Buffer.from(a).toString('hex')}\n`);
    expect(statSync(inboundIdFile(dir)).mode & 0o777).toBe(0o600);
    expect([...loadInboundId(dir, log)]).toEqual([...a]);
    expect(events).toEqual([]);
  });

  it('a file with no id in it is replaced; an unwritable directory still gives an id', () => {
    const dir = tmp();
    writeFileSync(inboundIdFile(dir), 'garbage\n');
    const { log, events } = logger();
    const a = loadInboundId(dir, log);
    expect(events).toEqual(['inbound-id-invalid']);
    expect([...loadInboundId(dir, log)]).toEqual([...a]);
    const file = join(tmp(), 'a-file');
    writeFileSync(file, '');
    const b = loadInboundId(join(file, 'state'), log); // a directory under a file: cannot be made
    expect(b.length).toBe(16);
    expect(events.at(-1)).toBe('inbound-id-unsaved');
  });
});
