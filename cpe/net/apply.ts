// Runs the command plans of plan.ts (src/daemon/command-plan.ts runs them): setup (on a failure it
// tears down what it did and says which command failed and why), teardown (keeps going past what
// is already gone). Optionally inside a named network namespace, which the system tests use.
import {
  type ApplyOptions,
  type ApplyResult,
  type Cmd,
  type CmdExec,
  type CmdFailure,
  execCmd,
  runPlan as runCommands,
} from '../../src/daemon/command-plan.js';
import { type CpeNetConfig, setupPlan, teardownPlan } from './plan.js';

export { type ApplyOptions, type ApplyResult, type CmdExec, type CmdFailure, execCmd };

/** Runs `cmds` in order (src/daemon/command-plan.ts), logging as module cpe-net. */
export function runPlan(cmds: readonly Cmd[], opts: ApplyOptions = {}): ApplyResult {
  return runCommands(cmds, { module: 'cpe-net', ...opts });
}

/** Sets up the CPE's nftables table, policy routing and TUN addresses, replacing leftovers. */
export function setup(cfg: CpeNetConfig, opts: ApplyOptions = {}): ApplyResult {
  const r = runPlan(setupPlan(cfg), opts);
  if (!r.ok) runPlan(teardownPlan(cfg), opts);
  return r;
}

/** Removes everything setup() creates; succeeds when it was never set up or after a crash. */
export function teardown(cfg: CpeNetConfig, opts: ApplyOptions = {}): ApplyResult {
  return runPlan(teardownPlan(cfg), opts);
}
