import crypto from 'node:crypto';
import type { ActionInput, FingerprintSnapshot, SessionAction } from '../contract';
import { SENSITIVE_ACTIONS } from '../contract';

/** The id of a fingerprint part that is absent (null), e.g. no device id or no JA4. */
export const ABSENT_ID = '-';

/**
 * First 12 hex chars of sha1: short and stable across processes (the Redis state keeps them).
 * One-shot `crypto.hash` costs half of createHash().update().digest().
 */
export function shortHash(text: string): string {
  let id = recentHashes.get(text);
  if (id === undefined) {
    id = crypto.hash('sha1', text, 'hex').slice(0, 12);
    // A session sends the same user agent, JA4 and device again and again: most ids are repeats.
    if (text.length <= 512) {
      if (recentHashes.size >= RECENT_HASHES) recentHashes.clear();
      recentHashes.set(text, id);
    }
  }
  return id;
}

const RECENT_HASHES = 50_000;
const recentHashes = new Map<string, string>();

/** A country code as is when it looks like one, else its hash: ids never contain ','. */
function countryId(country: string | null): string {
  if (country === null) return ABSENT_ID;
  return /^[A-Za-z]{2,3}$/.test(country) ? country : shortHash(country);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Replaces lone UTF-16 surrogates with U+FFFD. Strings reach Redis as UTF-8, which has no form for
 * them, so without this a value read back from Redis would differ from the one the in-memory
 * store keeps, and a redelivered event could see a different window than the first time.
 */
export function wellFormed(text: string): string {
  return /[\uD800-\uDFFF]/.test(text) ? text.replace(LONE_SURROGATE, '\uFFFD') : text;
}

function opt(text: string | null): string | null {
  return text === null ? null : wellFormed(text);
}

/**
 * Rounds to 5 decimals (about 1 m): finer than any IP geolocation, and a stable value in every
 * store and encoding. Non-finite becomes null; -0 becomes 0.
 */
export function roundCoord(value: number | null): number | null {
  if (value === null || !Number.isFinite(value)) return null;
  const r = Math.round(value * 1e5) / 1e5;
  return r === 0 ? 0 : r;
}

function idOf(part: string | null): string {
  return part === null ? ABSENT_ID : shortHash(part);
}

/** What the session store needs from one action (pure). */
export function toActionInput(action: SessionAction): ActionInput {
  const c = action.client;
  const isExport = action.action === 'export';
  const fp: FingerprintSnapshot = {
    ip: wellFormed(c.ip),
    asn: c.asn,
    country: opt(c.country),
    lat: roundCoord(c.lat),
    lon: roundCoord(c.lon),
    ua: wellFormed(c.user_agent),
    ja4: opt(c.ja4),
    dev: opt(c.device_id),
    ts: action.ts,
  };
  const asn = fp.asn === null ? ABSENT_ID : String(fp.asn);
  const whole = [fp.ua, fp.ja4 ?? ABSENT_ID, fp.dev ?? ABSENT_ID, asn].join('\u0000');
  return {
    sessionId: wellFormed(action.session_id),
    eventId: wellFormed(action.event_id),
    ts: action.ts,
    sensitive: SENSITIVE_ACTIONS.has(action.action),
    isExport,
    exported: isExport && action.records !== null && action.records > 0 ? action.records : 0,
    logout: action.action === 'logout',
    fp,
    ids: {
      fp: shortHash(whole),
      ua: shortHash(fp.ua),
      ja4: idOf(fp.ja4),
      dev: idOf(fp.dev),
      asn,
      country: countryId(fp.country),
    },
  };
}
