// This CPE's id toward the HAG's inbound forwarding (REGISTER's owner, src/inbound/wire.ts): 16
// random bytes kept in the state directory (`state.directory`/inbound-id), so that the CPE
// restarted (a crash, an upgrade, a power cut) replaces the control connection the HAG may still
// hold for it, instead of finding its own public ports in use until that one times out. The id
// is only ever sent to the HAG. Unreadable or unwritable: a fresh id for this run, logged.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { OWNER_BYTES } from '../../src/inbound/index.js';
import { writeFileAtomic } from '../../src/util/atomic-write.js';

export function inboundIdFile(directory: string): string {
  return join(directory, 'inbound-id');
}

export function loadInboundId(directory: string, log: Logger): Uint8Array {
  const file = inboundIdFile(directory);
  try {
    const hex = readFileSync(file, 'utf8').trim();
    if (new RegExp(`^[0-9a-f]{${2 * OWNER_BYTES}}$`).test(hex)) return Buffer.from(hex, 'hex');
    log.warn({ event: 'inbound-id-invalid', file }, `${file} holds no id: a new one replaces it`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      log.warn({ event: 'inbound-id-unreadable', file, error: (e as Error).message }, `cannot read ${file}`);
  }
  const id = randomBytes(OWNER_BYTES);
  try {
    mkdirSync(directory, { recursive: true });
    writeFileAtomic(file, `${id.toString('hex')}\n`, 0o600);
  } catch (e) {
    log.warn(
      { event: 'inbound-id-unsaved', file, error: (e as Error).message },
      `cannot save ${file}: after a restart the HAG may hold this CPE's ports until its old control connection times out`,
    );
  }
  return id;
}
