// The CPE's configuration in OpenWrt's UCI (/etc/config/hybrid-access): translated to the YAML
// config (config/schema/cpe.md) at every start and reload, then checked by the same loader, with
// each problem reported at the UCI line and option it came from ("hybrid-access:14:
// hybrid-access.dsl.probe_target: ..."). A `network` option names a netifd interface: the LAN's
// device and addresses are read from it here; an uplink's device too, and its address and gateway
// at run time (addressing netifd, cpe/openwrt/netifd.ts). The option names: README, "OpenWrt".
import { basename } from 'node:path';
import { stringify } from 'yaml';
import type { ConfigIssue, ConfigResult } from '../../src/config/index.js';
import { type CheckOptions, type CpeConfig, parseCpeConfig } from '../daemon/config.js';
import { parseUci, type UciSection } from './uci.js';

/** What netifd says of a logical interface (cpe/openwrt/netifd.ts reads it with ubus). */
export interface NetifdFacts {
  /** The layer-3 device ("eth1", "pppoe-wan"). */
  device: string | undefined;
  /** Its addresses (CIDR). */
  addresses: string[];
}

export interface UciOptions extends CheckOptions {
  /** netifd's view of a logical interface; undefined where there is none (no ubus, no such interface). */
  netifd?: (network: string) => NetifdFacts | undefined;
}

/** How one option becomes a setting: its YAML key (dotted, below the section's) and value kind. */
type Kind = 'str' | 'int' | 'num' | 'bool' | 'list' | 'ints' | ((v: string) => unknown);
type Options = Record<string, [key: string, kind: Kind]>;

const range = (v: string) => {
  const [start, end] = v.split('-');
  return { start, end };
};
const staticLease = (v: string) => {
  const [mac, address] = v.split(',');
  return { mac, address };
};

/** Sections that hold one mapping: their YAML key and options. */
const SINGLE: Record<string, { key: string; options: Options }> = {
  daemon: {
    key: '',
    options: {
      enabled: ['', 'bool'], // read by the init script only
      log_level: ['log.level', 'str'],
      log_connections: ['log.connections', 'bool'],
      quic: ['quic', 'str'],
      drain_timeout: ['drainTimeout', 'str'],
    },
  },
  lan: {
    key: 'lan',
    options: {
      network: ['', 'str'],
      device: ['interface', 'str'],
      address: ['addresses', 'list'],
      dhcp: ['dhcp.enabled', 'bool'],
      dhcp_range: ['dhcp.ranges', range],
      dhcp_static: ['dhcp.statics', staticLease],
      lease_time: ['dhcp.leaseTime', 'str'],
      dns: ['dhcp.dns', 'list'],
      domain: ['dhcp.domain', 'str'],
      lease_file: ['dhcp.leaseFile', 'str'],
      // Router advertisements: odhcpd sends them unless its ra is off for the LAN and this is '1'.
      ra: ['ra.enabled', 'bool'],
      ra_interval: ['ra.interval', 'str'],
      ra_dns: ['ra.dns', 'list'],
    },
  },
  hag: {
    key: 'hag',
    options: {
      address: ['addresses', 'list'],
      port: ['port', 'int'],
      method: ['method', 'str'],
      cookie: ['cookie', 'str'],
      fast_open: ['fastOpen', 'bool'],
      username: ['username', 'str'],
      password: ['password', 'str'],
      connect_timeout: ['connectTimeout', 'str'],
      retry_after: ['retryAfter', 'str'],
    },
  },
  bypass: { key: 'bypass', options: { destination: ['destinations', 'list'], port: ['ports', 'ints'] } },
  scheduling: { key: 'scheduling', options: { default: ['default', 'str'] } },
  failover: { key: 'failover', options: { hold_down: ['holdDown', 'str'] } },
  status: { key: 'status', options: { address: ['address', 'str'], port: ['port', 'int'] } },
  state: { key: 'state', options: { directory: ['directory', 'str'] } },
  events: {
    key: 'events',
    options: {
      command: ['command', 'list'],
      webhook: ['webhook.url', 'str'],
      webhook_authorization: ['webhook.authorization', 'str'],
      timeout: ['timeout', 'str'],
      retries: ['retries', 'int'],
      backoff: ['backoff', 'str'],
      queue: ['queue', 'int'],
    },
  },
  tun: {
    key: 'tun',
    options: {
      name: ['name', 'str'],
      mtu: ['mtu', 'int'],
      prefix: ['prefix', 'str'],
      offload: ['offload', 'str'],
      rx_holdoff_ms: ['rxHoldoffMs', 'int'],
    },
  },
  intercept: {
    key: 'intercept',
    options: {
      port: ['port', 'int'],
      mark: ['mark', 'int'],
      table: ['table', 'int'],
      max_connections: ['maxConnections', 'int'],
      idle_timeout: ['idleTimeout', 'str'],
      rule_priority: ['rulePriority', 'int'],
      suffix: ['suffix', 'str'],
    },
  },
  mptcp: {
    key: 'mptcp',
    options: {
      checksum: ['checksum', 'bool'],
      buffer_bytes: ['bufferBytes', 'int'],
      congestion: ['congestion', 'str'],
      congestion_control: ['congestionControl', 'str'],
      path_sharing: ['pathSharing', 'bool'],
    },
  },
};

/** Sections that repeat: `config uplink 'NAME'` (the name is the uplink's) and `config rule`. */
const UPLINK: Options = {
  network: ['network', 'str'],
  device: ['interface', 'str'],
  addressing: ['addressing', 'str'],
  address: ['address', 'str'],
  gateway: ['gateway', 'str'],
  gateway6: ['gateway6', 'str'],
  role: ['role', 'str'],
  capacity: ['capacity', 'str'],
  quota: ['quota.bytes', 'str'],
  quota_period: ['quota.period', 'str'],
  quota_reset_day: ['quota.resetDay', 'int'],
  quota_warn_at: ['quota.warnAt', 'num'],
  quota_save_interval: ['quota.saveInterval', 'str'],
  probe_target: ['probe.target', 'str'],
  probe_interval: ['probe.interval', 'str'],
  probe_timeout: ['probe.timeout', 'str'],
  probe_failures: ['probe.failures', 'int'],
  probe_successes: ['probe.successes', 'int'],
  probe_targets: ['probe.targets', 'list'],
  probe_window: ['probe.window', 'int'],
  probe_max_loss: ['probe.maxLoss', 'num'],
  probe_max_rtt: ['probe.maxRtt', 'str'],
  probe_hag_interval: ['probe.hag.interval', 'str'],
  probe_hag_failures: ['probe.hag.failures', 'int'],
  table: ['table', 'int'],
  core_address: ['coreAddress', 'str'],
  congestion_control: ['congestionControl', 'str'],
};
const RULE: Options = {
  port: ['ports', 'ints'],
  destination: ['destinations', 'list'],
  source: ['sources', 'list'],
  scheduler: ['scheduler', 'str'],
};

const TRUE = new Set(['1', 'yes', 'on', 'true', 'enabled']);
const FALSE = new Set(['0', 'no', 'off', 'false', 'disabled']);

/** A UCI value as the setting's type; what does not fit stays text, for the schema to refuse with its line. */
function convert(value: string | string[], kind: Kind): unknown {
  const items = Array.isArray(value) ? value : value.split(/\s+/).filter(Boolean);
  const int = (v: string) => (/^-?\d+$/.test(v) ? Number(v) : v);
  if (kind === 'list') return items;
  if (kind === 'ints') return items.map(int);
  if (typeof kind === 'function') return items.map(kind);
  const one = Array.isArray(value) ? value.join(' ') : value;
  if (kind === 'int') return int(one);
  if (kind === 'num') return /^-?\d+(\.\d+)?$/.test(one) ? Number(one) : one;
  if (kind === 'bool') return TRUE.has(one) ? true : FALSE.has(one) ? false : one;
  return one;
}

/** The mapping under `key`, made when missing. */
function child(obj: Record<string, unknown>, key: string): Record<string, unknown> {
  if (obj[key] === undefined) obj[key] = {};
  return obj[key] as Record<string, unknown>;
}

function setIn(obj: Record<string, unknown>, key: string, v: unknown): void {
  const parts = key.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) o = child(o, p);
  o[parts[parts.length - 1]] = v;
}

/** The last step of a dotted path: `.key` or `[3]`. */
const LAST_STEP = /(\.[^.[\]]+|\[\d+\])$/;

interface Origin {
  line: number;
  /** UCI's own name of the option or section ("hybrid-access.dsl.probe_target", "hybrid-access.@rule[0]"). */
  uci: string;
  /** A section's options, to name one that is missing. */
  options?: Options;
}

export interface Translation {
  /** The configuration as YAML text, for the CPE's loader. */
  yaml: string;
  /**
   * The UCI line and name a YAML path ("uplinks[0].probe.target") came from; for a setting the
   * file does not have, its section's line and the option that would give it.
   */
  origin(path: string): { line: number; uci: string } | undefined;
}

/** Translates a parsed UCI file; issues are what is wrong in the UCI itself (unknown options, sections). */
export function translateUci(
  sections: readonly UciSection[],
  pkg: string,
  opts: UciOptions = {},
): { ok: true; value: Translation } | { ok: false; issues: Omit<ConfigIssue, 'file'>[] } {
  const cfg: Record<string, unknown> = {};
  const origins = new Map<string, Origin>();
  const issues: Omit<ConfigIssue, 'file'>[] = [];
  const seen = new Map<string, number>();
  const uplinks: Record<string, unknown>[] = [];
  const rules: Record<string, unknown>[] = [];

  const fill = (
    s: UciSection,
    sid: string,
    base: string,
    options: Options,
    into: Record<string, unknown>,
  ) => {
    if (base) origins.set(base, { line: s.line, uci: sid, options });
    for (const [name, o] of s.options) {
      const map = options[name];
      const uci = `${sid}.${name}`;
      if (!map) {
        issues.push({ line: o.line, path: uci, message: `unknown option ${name} in a ${s.type} section` });
        continue;
      }
      const [key, kind] = map;
      if (!key) continue; // read below, or by the init script
      setIn(into, key, convert(o.value, kind));
      origins.set(base ? `${base}.${key}` : key, { line: o.line, uci });
    }
  };

  for (const s of sections) {
    const count = seen.get(s.type) ?? 0;
    seen.set(s.type, count + 1);
    const sid = s.name ? `${pkg}.${s.name}` : `${pkg}.@${s.type}[${count}]`;
    const single = SINGLE[s.type];
    if (single) {
      if (count > 0) {
        issues.push({ line: s.line, path: sid, message: `a second ${s.type} section; there is one` });
        continue;
      }
      const into = single.key ? child(cfg, single.key) : cfg;
      fill(s, sid, single.key, single.options, into);
      if (s.type === 'lan') lanFromNetifd(s, into, opts, issues, sid);
    } else if (s.type === 'uplink') {
      if (!s.name) {
        issues.push({
          line: s.line,
          path: sid,
          message: "an uplink section needs a name: config uplink 'dsl'",
        });
        continue;
      }
      const u: Record<string, unknown> = { name: s.name };
      fill(s, sid, `uplinks[${uplinks.length}]`, UPLINK, u);
      const network = s.options.get('network')?.value;
      if (typeof network === 'string') {
        u.addressing ??= 'netifd';
        if (u.interface === undefined) {
          const device = opts.netifd?.(network)?.device;
          if (device) u.interface = device;
          else
            issues.push({
              line: s.options.get('network')?.line,
              path: `${sid}.network`,
              message: `netifd has no device for interface ${network}: give option device`,
            });
        }
      }
      uplinks.push(u);
    } else if (s.type === 'rule') {
      const r: Record<string, unknown> = {};
      fill(s, sid, `scheduling.rules[${rules.length}]`, RULE, r);
      rules.push(r);
    } else {
      issues.push({ line: s.line, path: sid, message: `unknown section type ${s.type}` });
    }
  }
  if (uplinks.length) {
    cfg.uplinks = uplinks;
    const first = sections.find((s) => s.type === 'uplink');
    if (first) origins.set('uplinks', { line: first.line, uci: `${pkg}.@uplink` });
  }
  if (rules.length) child(cfg, 'scheduling').rules = rules;
  if (issues.length) return { ok: false, issues };
  return {
    ok: true,
    value: {
      yaml: stringify(cfg),
      origin(path) {
        for (let p = path; ; ) {
          const o = origins.get(p);
          if (o && p === path) return o;
          if (o) {
            const rest = path.slice(p.length + 1);
            const name = Object.entries(o.options ?? {}).find(
              ([, [key]]) =>
                key && (rest === key || rest.startsWith(`${key}.`) || rest.startsWith(`${key}[`)),
            )?.[0];
            return { line: o.line, uci: name ? `${o.uci}.${name}` : `${o.uci} (${path})` };
          }
          const up = p.replace(LAST_STEP, '');
          if (up === p) return undefined;
          p = up;
        }
      },
    },
  };
}

/**
 * The LAN's device and addresses from netifd when not given; the DHCP server only with option dhcp
 * '1' (on OpenWrt dnsmasq serves the LAN), the router advertisements only with option ra '1'
 * (odhcpd sends them).
 */
function lanFromNetifd(
  s: UciSection,
  lan: Record<string, unknown>,
  opts: UciOptions,
  issues: Omit<ConfigIssue, 'file'>[],
  sid: string,
): void {
  const network = s.options.get('network');
  if (typeof network?.value === 'string' && (lan.interface === undefined || lan.addresses === undefined)) {
    const facts = opts.netifd?.(network.value);
    lan.interface ??= facts?.device;
    if (lan.addresses === undefined && facts?.addresses.length) lan.addresses = facts.addresses;
    if (lan.interface === undefined || lan.addresses === undefined)
      issues.push({
        line: network.line,
        path: `${sid}.network`,
        message: `netifd has no device or address for interface ${network.value}: give option device and list address`,
      });
  }
  for (const key of ['dhcp', 'ra'] as const) {
    const part = lan[key] as { enabled?: unknown } | undefined;
    if (part && part.enabled !== true) delete lan[key];
    else if (part) delete part.enabled;
  }
}

/** Parses /etc/config/hybrid-access (named `file` in messages) into the CPE's configuration. */
export function parseCpeUci(text: string, file: string, opts: UciOptions = {}): ConfigResult<CpeConfig> {
  const parsed = parseUci(text);
  if (!parsed.ok)
    return { ok: false, issues: [{ file, line: parsed.line, path: '(uci)', message: parsed.message }] };
  const t = translateUci(parsed.sections, basename(file), opts);
  if (!t.ok) return { ok: false, issues: t.issues.map((i) => ({ file, ...i })) };
  const r = parseCpeConfig(t.value.yaml, file, opts);
  if (r.ok) return r;
  return {
    ok: false,
    issues: r.issues.map((i) => {
      const o = t.value.origin(i.path);
      if (!o) return { file, path: i.path, message: i.message };
      return { file, line: o.line, path: o.uci, message: i.message };
    }),
  };
}
