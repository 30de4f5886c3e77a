export { ABSENT_ID, roundCoord, shortHash, toActionInput, wellFormed } from './input';
export type { SessionKeys } from './keys';
export { DEFAULT_KEY_PREFIX, checkKeyPrefix, sessionKeys, sessionTag } from './keys';
export type { MemoryStoreOptions } from './memory';
export { MemorySessionStore } from './memory';
export type { RedisStoreOptions } from './redis';
export { RedisSessionStore, parseReply } from './redis';
export type { LuaScript } from './scripts';
export { loadScripts, luaDir, registerScripts } from './scripts';
export type {
  IdKind,
  RingEntry,
  SessionEntry,
  StoreLimits,
  StoreOptions,
  WindowLimits,
  WindowState,
} from './window';
export {
  ID_KINDS,
  M10_MS,
  M1_MS,
  SEQ_LEN,
  STORE_DEFAULTS,
  applyToSession,
  applyToWindow,
  decodeState,
  emptyState,
  resolveStoreLimits,
} from './window';
