// The RFC 8803 Convert protocol's wire format (see convert.ts).
export * from './convert.js';
