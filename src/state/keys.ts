import { createHash } from 'node:crypto';
import { RiskStreamError } from '../errors';

/** Every Redis key of the session store is built here (and only here). */

export const DEFAULT_KEY_PREFIX = 'rs:';

/**
 * Part of every key: the version of the stored format. A release that changes what the script
 * stores changes it, so the new script never reads an old value (old keys simply expire).
 */
export const STATE_FORMAT = 'v3';

export interface SessionKeys {
  /** The window state, packed by the script (decodeState reads it). */
  win: string;
  /** Dedupe ledger: eventId -> the view returned the first time (packed). */
  ev: string;
  /** Ledger order: eventIds, oldest first, capped at dedupeCap. */
  evq: string;
  /**
   * The session's count of events across windows (WindowView.arrival): lives as long as the
   * window and the policy state (idleTtl), not the ledger (dedupeTtl).
   */
  arr: string;
  /** Policy (friction-control) state: `<asOf>|<json>` (savePolicy-1.lua). */
  pol: string;
  /** Timeline: sorted set, score = the event's arrival number, member = the entry (JSON). */
  tl: string;
}

/** How much the analyst API keeps (settings timeline.*). */
export interface TimelineLimits {
  /** Latest entries per session (0: none). */
  maxEntries: number;
  /** How long a session's timeline is kept after its last entry. */
  ttlMs: number;
  /** Latest non-ALLOW decisions in the index (0: none). */
  maxDecisions: number;
}

export const DEFAULT_TIMELINE_LIMITS: TimelineLimits = {
  maxEntries: 200,
  ttlMs: 3_600_000,
  maxDecisions: 100_000,
};

/** The recent-decisions index: one stream for every engine (not per session). */
export function decisionsIndexKey(prefix: string): string {
  return `${prefix}decisions:${STATE_FORMAT}`;
}

/**
 * The store's epoch: written when the engine first finds it missing, so that its disappearance
 * while the engine runs shows Redis lost its state (restarted empty, flushed). Not per session.
 */
export function epochKey(prefix: string): string {
  return `${prefix}epoch:${STATE_FORMAT}`;
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

/** Keys of one session; all share one hash slot. `prefix` must already be checked. */
export function sessionKeys(prefix: string, sessionId: string): SessionKeys {
  const base = `${prefix}${sessionTag(sessionId)}:${STATE_FORMAT}`;
  return {
    win: `${base}:win`,
    ev: `${base}:ev`,
    evq: `${base}:evq`,
    arr: `${base}:arr`,
    pol: `${base}:pol`,
    tl: `${base}:tl`,
  };
}

/** Keys of the CAEP outbox (src/caep/outbox.ts). */
export interface CaepKeys {
  /** Sorted set: jti -> when the SET is next due (epoch ms; a claimed SET's lease end). */
  due: string;
  /** Hash: jti -> the pending SET's record (JSON). */
  sets: string;
  /** Hash: jti -> a SET given up on, with the reason (JSON). */
  dead: string;
  /** Marker that a jti was delivered; expires after caep.deliveredTtl. */
  delivered(jti: string): string;
}

/**
 * All outbox keys share the hash tag `{caep}` so every outbox script runs in one Redis Cluster slot.
 * `caep:` before the tag keeps them apart from any session's keys (those start with the tag).
 * `prefix` must already be checked.
 */
export function caepKeys(prefix: string): CaepKeys {
  const base = `${prefix}caep:{caep}:v1`;
  return {
    due: `${base}:due`,
    sets: `${base}:sets`,
    dead: `${base}:dead`,
    delivered: (jti) => `${base}:done:${jti}`,
  };
}
