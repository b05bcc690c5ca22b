// The CPE-HAG inbound port-forwarding protocol (wire.ts).
export * from './wire.js';
