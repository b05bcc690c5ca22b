// The schedulers by name (config: scheduling rules pick one per connection).
import { MinRttScheduler } from './min-rtt.js';
import { PrimaryFirstScheduler } from './primary-first.js';
import { RedundantScheduler } from './redundant.js';
import type { Scheduler, SchedulerName } from './scheduler.js';

export type { Scheduler, SchedulerName } from './scheduler.js';
export { eligible } from './scheduler.js';

export const SCHEDULER_NAMES: readonly SchedulerName[] = ['min-rtt', 'primary-first', 'redundant'];

/** Schedulers keep no per-connection state: one instance of each serves every connection. */
const BY_NAME: Record<SchedulerName, Scheduler> = {
  'min-rtt': new MinRttScheduler(),
  'primary-first': new PrimaryFirstScheduler(),
  redundant: new RedundantScheduler(),
};

export function scheduler(name: SchedulerName): Scheduler {
  return BY_NAME[name];
}
export { type SchedulingRule, SchedulingRules } from './rules.js';
