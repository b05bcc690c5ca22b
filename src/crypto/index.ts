// MPTCP cryptography: key derivations and HMACs.
export * from './hmac.js';
export * from './keys.js';
