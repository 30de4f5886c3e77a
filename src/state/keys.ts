import { createHash } from 'node:crypto';
import { RiskStreamError } from '../errors';

/** Every Redis key of the session store is built here (and only here). */

export const DEFAULT_KEY_PREFIX = 'rs:';

/**
 * Part of every key: the version of the stored format. A release that changes what the script
 * stores changes it, so the new script never reads an old value (old keys simply expire).
 */
export const STATE_FORMAT = 'v2';

export interface SessionKeys {
  /** The window state, packed by the script (decodeState reads it). */
  win: string;
  /** Dedupe ledger: eventId -> the view returned the first time (packed). */
  ev: string;
  /** Ledger order: eventIds, oldest first, capped at dedupeCap. */
  evq: string;
}

/**
 * The Redis Cluster hash tag for a session. The raw id is used when Redis would read it back as
 * the whole tag; an id that is empty or contains a brace would not (Redis hashes the text between
 * the first `{` and the next `}`), so it is replaced by its sha1 and marked with `#` outside the
 * braces, which keeps the two forms from ever colliding.
 */
export function sessionTag(sessionId: string): string {
  if (sessionId.length > 0 && !/[{}]/.test(sessionId)) return `{${sessionId}}`;
  return `#{${createHash('sha1').update(sessionId, 'utf8').digest('hex')}}`;
}

export function checkKeyPrefix(prefix: string): string {
  if (/[{}]/.test(prefix)) {
    throw new RiskStreamError(
      'CONFIG_INVALID',
      `redis key prefix ${JSON.stringify(prefix)} must not contain '{' or '}' (it would become the hash tag)`,
    );
  }
  return prefix;
}

/** Keys of one session; all three share one hash slot. `prefix` must already be checked. */
export function sessionKeys(prefix: string, sessionId: string): SessionKeys {
  const base = `${prefix}${sessionTag(sessionId)}:${STATE_FORMAT}`;
  return { win: `${base}:win`, ev: `${base}:ev`, evq: `${base}:evq` };
}
