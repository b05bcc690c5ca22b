// The network simulator in virtual time: seeded randomness, the event clock, links with rate,
// delay, jitter, loss, reordering, duplication, MTU, byte queues and outages, middleboxes (NAT,
// option stripping, corruption), and the network that drives SansIo stacks over them.
//
//   const net = new Network({ seed: 7 });
//   net.addNode('cpe', cpeStack);                    // any SansIo
//   net.addNode('hag', hagStack);
//   const dsl = net.connect('cpe', 'hag', { name: 'dsl', rate: 50e6, delay: 10, reverse: { rate: 10e6 } });
//   const lte = net.connect('cpe', 'hag', { name: 'lte', rate: 20e6, delay: 30, jitter: 5, loss: 0.01 });
//   net.route('cpe', { src: '198.18.1.0/24', via: dsl });   // multi-homed: by source
//   net.route('cpe', { src: '198.18.2.0/24', via: lte });
//   net.route('hag', { dst: '198.18.1.0/24', via: dsl });   // gateway: by destination
//   net.route('hag', { dst: '198.18.2.0/24', via: lte });
//   const cgn = new Nat({ publicAddress: '198.19.200.1' });
//   lte.ab.addMiddlebox(cgn.outbound);                       // lte.ab: cpe to hag
//   lte.ba.addMiddlebox(cgn.inbound);
//   dsl.ab.addMiddlebox(stripTcpOption(TCPOPT.mptcp, { synOnly: true }));
//   lte.outage(5_000, 8_000);                                // or lte.setUp(false) from net.at(...)
//   net.capture(lte, '/tmp/lte.pcap');                       // both directions, opens in Wireshark
//   net.runUntil(() => done, 60_000);
//   net.close();                                             // flushes the captures
export * from '../wire/addr.js';
export * from './clock.js';
export * from './link.js';
export * from './middlebox.js';
export * from './nat.js';
export * from './network.js';
export * from './node.js';
export * from './rng.js';
export * from './slab.js';
