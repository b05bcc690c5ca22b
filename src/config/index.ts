// Shared YAML configuration loading with line-numbered validation errors (the HAG and the CPE).

export * from './host.js';
export * from './load.js';
export * as s from './schema.js';
export { type ConfigIssue, formatIssue, type Infer } from './schema.js';
