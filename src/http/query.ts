import { DECISION_TYPES, type DecisionType } from '../contract';
import type { Summary } from './feed';

/**
 * The analyst API's query parameters, read strictly: a malformed value is a BadParam (answered 400
 * naming it); an empty one counts as not given (what an HTML form sends for an empty field).
 */

export type Query = Record<string, string | string[] | undefined>;

export interface DecisionFilter {
  user: string | undefined;
  app: string | undefined;
  session: string | undefined;
  decisions: ReadonlySet<DecisionType> | null;
  /** Epoch ms: decisions made at or after it. */
  since: number | null;
}

/** A cursor: the memory store's sequence number or a Redis stream id. */
const CURSOR = /^\d{1,16}(-\d{1,16})?$/;

/** A query parameter (or header) the caller got wrong: answered 400 with a message naming it. */
export class BadParam extends Error {
  constructor(
    readonly param: string,
    why: string,
    where = 'query parameter',
  ) {
    super(`${where} ${param}: ${why}`);
  }
}

/** A parameter's value; absent or empty: undefined. Given twice: 400 (which one was meant?). */
function one(q: Query, name: string): string | undefined {
  const v = q[name];
  if (Array.isArray(v)) throw new BadParam(name, 'given more than once');
  return v === undefined || v === '' ? undefined : v;
}

export function limitOf(q: Query, range: { def: number; max: number }): number {
  const v = one(q, 'limit');
  if (v === undefined) return range.def;
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) {
    throw new BadParam('limit', `expected a whole number from 1 (at most ${range.max} are returned)`);
  }
  return Math.min(range.max, Number(v));
}

export function cursorOf(q: Query, name: string): string | null {
  const value = one(q, name);
  if (value === undefined) return null;
  if (!CURSOR.test(value)) throw new BadParam(name, 'expected a cursor from an earlier answer');
  return value;
}

/** Where a reconnecting live-feed client left off: the Last-Event-ID header, else ?last_event_id=. */
export function lastEventIdOf(header: string | string[] | undefined, q: Query): string | null {
  if (header === undefined || header === '') return cursorOf(q, 'last_event_id');
  if (typeof header !== 'string' || !CURSOR.test(header)) {
    throw new BadParam('Last-Event-ID', 'expected the id of an event of this feed', 'header');
  }
  return header;
}

export function filterOf(q: Query): DecisionFilter {
  const since = one(q, 'since');
  let sinceMs: number | null = null;
  if (since !== undefined) {
    sinceMs = /^\d{1,16}$/.test(since)
      ? Number(since)
      : /^\d{4}-\d{2}-\d{2}/.test(since)
        ? Date.parse(since)
        : NaN;
    if (!Number.isFinite(sinceMs)) {
      throw new BadParam('since', 'expected epoch milliseconds or an ISO 8601 time (2026-01-31T12:00:00Z)');
    }
  }
  // The decision filter is a comma-separated list; given more than once, the lists add up.
  const raw = q.decision;
  const names = (Array.isArray(raw) ? raw : [raw ?? ''])
    .flatMap((v) => v.split(','))
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);
  for (const name of names) {
    if (!(DECISION_TYPES as readonly string[]).includes(name)) {
      throw new BadParam(
        'decision',
        `unknown decision ${JSON.stringify(name)}: one of ${DECISION_TYPES.join(', ')}`,
      );
    }
  }
  return {
    user: one(q, 'user'),
    app: one(q, 'app'),
    session: one(q, 'session'),
    decisions: names.length > 0 ? new Set(names as DecisionType[]) : null,
    since: sinceMs,
  };
}

export const matches = (f: DecisionFilter, d: Summary): boolean =>
  (f.user === undefined || d.user_id === f.user) &&
  (f.app === undefined || d.app === f.app) &&
  (f.session === undefined || d.session_id === f.session) &&
  (f.decisions === null || f.decisions.has(d.decision)) &&
  (f.since === null || d.decided_at >= f.since);

/** The timeline's `before`: an action number (next_before of an earlier answer); none: Infinity. */
export function beforeOf(q: Query): number {
  const v = one(q, 'before');
  if (v === undefined) return Infinity;
  if (!/^\d{1,16}$/.test(v)) {
    throw new BadParam('before', 'expected an action number (next_before of an earlier answer)');
  }
  return Number(v);
}
