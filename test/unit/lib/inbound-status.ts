// The inbound part of a CPE status snapshot (two forwards: one open with connections, one the HAG
// refused), shared by the status page's and the metrics' tests.
import type { InboundStatus } from '../../../cpe/daemon/inbound.js';

export const INBOUND_STATUS: InboundStatus = {
  control: { state: 'up', reason: '', since: 0, hag: '198.18.100.1', port: 5125 },
  forwards: [
    {
      name: 'web',
      public: '8080',
      host: '198.18.5.10',
      port: 80,
      state: 'open',
      active: 1,
      connections: 7,
      failed: 1,
    },
    {
      name: 'ssh',
      public: '2222',
      host: '198.18.5.10',
      port: 22,
      state: 'refused',
      reason: 'not-allowed',
      active: 0,
      connections: 0,
      failed: 0,
    },
  ],
  active: 1,
  accepted: 7,
  closed: 6,
  failed: { 'lan-refused': 1 },
};
