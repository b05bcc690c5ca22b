// Why a TUN interface is still there, for a test's failure message: every process holding
// /dev/net/tun open (pid, comm, cmdline, its network namespace, state, kernel stack when readable,
// and the interface each fd is attached to, from fdinfo's "iff:"), and whether a given pid lives.
// Also linkNamed(): whether `ip -o link show` lists an interface of exactly that name (a substring
// test would match the namespace names that `link-netns` prints beside veths).
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';

const read = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

/** Whether `ipLinkOutput` (of `ip -o link show` or `ip link show`) lists the interface `name`. */
export function linkNamed(ipLinkOutput: string, name: string): boolean {
  // "12: hag0: <...>" or "13: h1@if12: <...>": the name is the second field, up to ':' or '@'.
  return ipLinkOutput.split('\n').some((l) => {
    const m = /^\d+: ([^:@\s]+)[:@]/.exec(l);
    return m?.[1] === name;
  });
}

/** The named namespace (/run/netns) whose inode `pid`'s network namespace has, else its inode. */
function netnsOf(pid: string): string {
  let ino: number;
  try {
    ino = statSync(`/proc/${pid}/ns/net`).ino;
  } catch {
    return '?';
  }
  for (const n of existsSync('/run/netns') ? readdirSync('/run/netns') : []) {
    try {
      if (statSync(`/run/netns/${n}`).ino === ino) return n;
    } catch {}
  }
  return `net:[${ino}]`;
}

/** A report of the /dev/net/tun holders and of `pid` (the daemon that should have closed its TUN). */
export function tunHolders(pid?: number): string {
  const out: string[] = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    const tuns = fds.filter((fd) => {
      try {
        return readlinkSync(`/proc/${p}/fd/${fd}`) === '/dev/net/tun';
      } catch {
        return false;
      }
    });
    if (tuns.length === 0) continue;
    const iffs = tuns.map(
      (fd) => `${fd}:${/^iff:\s*(\S+)/m.exec(read(`/proc/${p}/fdinfo/${fd}`) ?? '')?.[1] ?? '-'}`,
    );
    const state = /^State:\s*(.*)$/m.exec(read(`/proc/${p}/status`) ?? '')?.[1] ?? '?';
    const cmdline = (read(`/proc/${p}/cmdline`) ?? '').split('\0').join(' ').trim();
    const stack = read(`/proc/${p}/stack`);
    out.push(
      `pid ${p} (${read(`/proc/${p}/comm`)?.trim()}) ${state} netns ${netnsOf(p)} tun fds ${iffs.join(' ')}: ${cmdline}` +
        (stack ? `\n  stack: ${stack.trim().split('\n').join(' | ')}` : ''),
    );
  }
  if (out.length === 0) out.push('no process holds /dev/net/tun');
  if (pid !== undefined) {
    const status = read(`/proc/${pid}/status`);
    out.push(
      status
        ? `pid ${pid} still exists: ${/^State:\s*(.*)$/m.exec(status)?.[1]}`
        : `pid ${pid} is gone (reaped)`,
    );
  }
  return out.join('\n');
}
