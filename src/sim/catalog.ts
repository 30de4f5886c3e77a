/**
 * The simulator's catalogue of realistic values, in one import: places, networks (ASNs with
 * address blocks), clients (User-Agent + JA4) and applications (actions, resources, roles).
 */
export * from './agents';
export * from './apps';
export * from './geo';
export * from './networks';
