// SOCKS5 (RFC 1928, RFC 1929) wire format for both sides (see socks5.ts).
export * from './socks5.js';
