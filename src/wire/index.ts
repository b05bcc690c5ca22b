// The wire layer: byte formats of IP, TCP and MPTCP, each as a zero-copy view over received bytes
// and a plain-object form with parse and emit. Nothing here keeps state or throws on bad input.
export * from './bytes.js';
export * from './checksum.js';
export * from './error.js';
export * from './gso-segment.js';
export * from './ipv4.js';
export * from './ipv6.js';
export * from './mptcp/add-addr.js';
export * from './mptcp/dss.js';
export * from './mptcp/mp-capable.js';
export * from './mptcp/mp-fail.js';
export * from './mptcp/mp-fastclose.js';
export * from './mptcp/mp-join.js';
export * from './mptcp/mp-prio.js';
export * from './mptcp/mp-tcprst.js';
export * from './mptcp/option.js';
export * from './mptcp/remove-addr.js';
export * from './mptcp/subtype.js';
export * from './packet.js';
export * from './tcp.js';
export * from './tcp-options.js';
export * from './virtio-net-hdr.js';
