import { createHash } from 'node:crypto';
import { RiskStreamError } from '../errors';

/** Every Redis key of the session store is built here (and only here). */

export const DEFAULT_KEY_PREFIX = 'rs:';

export interface SessionKeys {
  /** The window state, a JSON string. */
  win: string;
  /** Dedupe ledger: eventId -> the view JSON returned the first time. */
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
  const base = prefix + sessionTag(sessionId);
  return { win: `${base}:win`, ev: `${base}:ev`, evq: `${base}:evq` };
}
