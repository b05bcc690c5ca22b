// Command line of the lab (run through the scripts/lab wrapper): parses the subcommand and its
// options and calls scripts/lab-impl/lab.ts. Exit status 0 on success, 1 on errors, 2 on bad usage.

import {
  ADDR,
  DEFAULT_PREFIX,
  HAG_HOSTS,
  LabError,
  labDown,
  labExec,
  labFault,
  labLossBurst,
  labStatus,
  labUp,
  NAMESPACES,
  nsName,
} from './lab.js';
import { NATBOX } from './natbox.js';
import { LINK_NAMES, type LinkName, ProfileError } from './profiles.js';

const USAGE = `usage: scripts/lab <command> [options]
  up [--profile NAME] [--prefix P] [--profiles FILE]   bring the lab up (profile "default")
  down [--prefix P]                                    remove everything the lab created
  status [--prefix P]                                  namespaces, links and delay-line counters
  fault [--prefix P] <dsl|lte> down|up                 take an access link down or up again
  fault [--prefix P] <dsl|lte> loss <percent> <seconds>  a burst of loss on a link
  exec [--prefix P] <ns> <command...>                  run a command in a lab namespace
                                                       (${NAMESPACES.join(', ')})
The prefix (default "${DEFAULT_PREFIX}", or $HA_LAB_PREFIX) names the namespaces: <prefix>-cpe, ...
Profiles are in config/lab/profiles.yaml.`;

class UsageError extends Error {}

interface Parsed {
  prefix: string;
  profile: string;
  profilesFile: string | undefined;
  args: string[];
}

/** Splits options from positional arguments; for `exec`, everything after the namespace is the command. */
function parse(argv: string[], stopAfter: number): Parsed {
  const out: Parsed = {
    prefix: process.env.HA_LAB_PREFIX || DEFAULT_PREFIX,
    profile: 'default',
    profilesFile: undefined,
    args: [],
  };
  let i = 0;
  while (i < argv.length) {
    const a = argv[i];
    if (out.args.length >= stopAfter) {
      out.args.push(...argv.slice(i));
      break;
    }
    const value = () => {
      const v = argv[i + 1];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      i += 2;
      return v;
    };
    if (a === '--prefix') out.prefix = value();
    else if (a === '--profile') out.profile = value();
    else if (a === '--profiles') out.profilesFile = value();
    else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else {
      out.args.push(a);
      i++;
    }
  }
  return out;
}

function link(name: string | undefined): LinkName {
  if (!(LINK_NAMES as readonly string[]).includes(name ?? '')) {
    throw new UsageError(`unknown link "${name ?? ''}" (one of: ${LINK_NAMES.join(', ')})`);
  }
  return name as LinkName;
}

function number(text: string | undefined, what: string, max: number): number {
  const v = Number(text);
  if (text === undefined || text === '' || !Number.isFinite(v) || v < 0 || v > max) {
    throw new UsageError(`${what} must be a number 0..${max}, got "${text ?? ''}"`);
  }
  return v;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'up': {
      const p = parse(rest, Number.POSITIVE_INFINITY);
      if (p.args.length > 0) throw new UsageError(`up: unexpected ${p.args.join(' ')}`);
      const state = await labUp(p.profile, p.prefix, { profilesFile: p.profilesFile });
      const fmt = (l: LinkName) => {
        const lp = state.profile.links[l];
        return `${l} ${lp.down.rateBps / 1e6}/${lp.up.rateBps / 1e6} Mbit/s down/up, ${lp.up.delayMs} ms one way`;
      };
      console.log(`lab "${p.prefix}" up, profile ${p.profile}: ${fmt('dsl')}; ${fmt('lte')}`);
      const uplinks = state.profile.natboxes
        ? `dsl0 and lte0 by DHCP from two NAT boxes (${NATBOX.subnet} via ${NATBOX.gateway} on both)`
        : `${ADDR.cpe.dsl} (dsl) ${ADDR.cpe.lte} (lte)`;
      console.log(`  cpe ${uplinks}, server ${ADDR.server.hag}, client ${ADDR.client.lan}`);
      console.log(
        state.profile.natboxes
          ? '  the uplinks have addresses once the CPE daemon (config/lab/cpe-natboxes.yaml) took the leases'
          : `  e.g. scripts/lab exec cpe ping -I ${ADDR.cpe.dsl} ${ADDR.server.hag}`,
      );
      if (state.profile.hagHosts === 2)
        console.log(
          `  two HAG hosts: the hag namespace routes the service addresses by ECMP to ${HAG_HOSTS.map((h) => `${h.ns} (${h.addr}, join ${h.join})`).join(' and ')}`,
        );
      if (state.profile.transparent)
        console.log(
          '  transparent: the daemons (scripts/demo, startProduct) run with HAG service.transparent and CPE hag.method transparent',
        );
      return 0;
    }
    case 'down': {
      const p = parse(rest, Number.POSITIVE_INFINITY);
      if (p.args.length > 0) throw new UsageError(`down: unexpected ${p.args.join(' ')}`);
      labDown(p.prefix);
      console.log(`lab "${p.prefix}" down`);
      return 0;
    }
    case 'status': {
      const p = parse(rest, Number.POSITIVE_INFINITY);
      const s = await labStatus(p.prefix);
      const up = Object.values(s.namespaces).some(Boolean);
      if (!up) {
        console.log(`lab "${p.prefix}": not up`);
        return 1;
      }
      console.log(`lab "${p.prefix}", profile ${s.profile?.name ?? '?'}`);
      for (const [ns, present] of Object.entries(s.namespaces)) {
        console.log(
          `  ${nsName(p.prefix, ns as (typeof NAMESPACES)[number])}: ${present ? 'present' : 'MISSING'}`,
        );
      }
      for (const [l, st] of Object.entries(s.links)) {
        const dl = st.delayLine;
        const counters =
          typeof dl === 'string'
            ? dl
            : (['up', 'down'] as const)
                .map((d) => {
                  const c = dl[d] as Record<string, number>;
                  return `${d} ${c.sent}/${c.received} sent, ${c.dropped} dropped, ${c.queued} queued`;
                })
                .join('; ');
        console.log(`  ${l}: ${st.up ? 'up' : 'DOWN'}; delay line: ${counters}`);
      }
      return 0;
    }
    case 'fault': {
      const p = parse(rest, Number.POSITIVE_INFINITY);
      const [l, what, a, b] = p.args;
      const ln = link(l);
      if ((what === 'down' || what === 'up') && a === undefined) {
        labFault(p.prefix, ln, what);
        console.log(`${ln} ${what}`);
        return 0;
      }
      if (what === 'loss' && b !== undefined && p.args.length === 4) {
        const percent = number(a, 'loss percent', 100);
        const seconds = number(b, 'seconds', 86_400);
        await labLossBurst(p.prefix, ln, percent, seconds);
        console.log(`${ln}: ${percent}% loss for ${seconds} s`);
        return 0;
      }
      throw new UsageError('fault <dsl|lte> down|up, or fault <dsl|lte> loss <percent> <seconds>');
    }
    case 'exec': {
      const p = parse(rest, 1);
      const [ns, ...command] = p.args;
      if (ns === undefined || command.length === 0) throw new UsageError('exec <ns> <command...>');
      return labExec(p.prefix, ns, command);
    }
    case 'demo':
      console.log('the demo brings up a lab of its own with the HAG and the CPE: run scripts/demo');
      return 0;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.log(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      console.error(`lab: ${e.message}\n${USAGE}`);
      process.exit(2);
    }
    if (e instanceof LabError || e instanceof ProfileError) {
      console.error(`lab: ${e.message}`);
      process.exit(1);
    }
    console.error(e);
    process.exit(1);
  },
);
