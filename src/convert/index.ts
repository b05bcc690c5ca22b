// The RFC 8803 Convert protocol's wire format (see convert.ts) and our private-use policy TLV (policy.ts).
export * from './convert.js';
export * from './policy.js';
