/**
 * OpenID CAEP output: STEP_UP and TERMINATE decisions as signed Security Event Tokens, kept in a
 * durable outbox and pushed to receivers per RFC 8935.
 */
export { CaepTransmitter, PUSH_DELIVERY_METHOD } from './transmitter';
export type { CaepDeps } from './transmitter';
export { registerCaepRoutes } from './routes';
export { startCaepReceiver, checkEvents, checkSubject } from './receiver';
export type { CaepReceiverOptions, RunningReceiver, VerifiedSet, RefusedPush } from './receiver';
export { buildSet, caepEventFor, caepEventUri, setJti, CAEP_EVENT_PREFIX, SET_TYP } from './set';
export type { SetClaims, ComplexSubject } from './set';
export { loadSigningKey } from './keys';
export type { SigningKey } from './keys';
export { MemoryCaepOutbox, RedisCaepOutbox } from './outbox';
export type { CaepOutbox, DeadRecord, OutboxRecord } from './outbox';
export { caepSettings, CAEP_EVENT_NAMES } from './settings';
export type { CaepEventName, CaepReceiver } from './settings';
