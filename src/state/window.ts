import type { ActionInput, FingerprintSnapshot, WindowCounts, WindowView } from '../contract';
import { RiskStreamError } from '../errors';

/**
 * The session window, in TypeScript. This is the twin of `lua/applyActions-3.lua`: the same state
 * (its JSON form is what Redis stores under the `win` key) and the same view for every input.
 * Change both together; the parity test in test/integration/state checks they agree.
 */

export const ID_KINDS = ['fp', 'ua', 'ja4', 'dev', 'asn', 'country'] as const;
export type IdKind = (typeof ID_KINDS)[number];

/** [ts, sensitive 0|1, export 0|1, records exported] of one recent event. */
export type RingEntry = [number, number, number, number];

export const M1_MS = 60_000;
export const M10_MS = 600_000;
/** Fingerprint ids kept for `fpSeq`. */
export const SEQ_LEN = 8;

export interface WindowState {
  n: number;
  first: number | null;
  last: number | null;
  base: FingerprintSnapshot | null;
  prev: FingerprintSnapshot | null;
  /** Distinct ids per kind, in first-seen order, each capped at maxDistinct. */
  fp: string[];
  ua: string[];
  ja4: string[];
  dev: string[];
  asn: string[];
  country: string[];
  seq: string[];
  /** Arrival order; entries older than the latest ts minus 10 min are dropped. */
  ring: RingEntry[];
  all: number;
  sensitive: number;
  exports: number;
  exported: number;
  capped: boolean;
}

export interface WindowLimits {
  /** Cap of each distinct-id set. @default 64 */
  maxDistinct: number;
  /** Cap of the recent-event ring. @default 2000 */
  maxRing: number;
}

/** Options shared by the Redis and the in-memory store. */
export interface StoreOptions extends Partial<WindowLimits> {
  /** Keys (or memory entries) expire after this long without an event. @default 1_800_000 (30 min) */
  idleTtlMs?: number;
  /** Event ids remembered per session for dedupe. @default 1000 */
  dedupeCap?: number;
}

export type StoreLimits = Required<StoreOptions>;

export const STORE_DEFAULTS: StoreLimits = {
  idleTtlMs: 30 * 60_000,
  dedupeCap: 1000,
  maxDistinct: 64,
  maxRing: 2000,
};

/** Fills defaults and checks that every limit is a positive integer. */
export function resolveStoreLimits(options: StoreOptions = {}): StoreLimits {
  const out = { ...STORE_DEFAULTS };
  for (const name of Object.keys(STORE_DEFAULTS) as (keyof StoreLimits)[]) {
    const value = options[name];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RiskStreamError(
        'CONFIG_INVALID',
        `session store option ${name} must be an integer >= 1, got ${value}`,
      );
    }
    out[name] = value;
  }
  return out;
}

export function emptyState(): WindowState {
  return {
    n: 0,
    first: null,
    last: null,
    base: null,
    prev: null,
    fp: [],
    ua: [],
    ja4: [],
    dev: [],
    asn: [],
    country: [],
    seq: [],
    ring: [],
    all: 0,
    sensitive: 0,
    exports: 0,
    exported: 0,
    capped: false,
  };
}

const asArray = <T>(value: unknown): T[] => (Array.isArray(value) ? (value as T[]) : []);

/** Parses the `win` JSON written by the Lua script (cjson writes an empty array as `{}`). */
export function decodeState(json: string): WindowState {
  const raw = JSON.parse(json) as WindowState;
  const state: WindowState = { ...emptyState(), ...raw, seq: asArray(raw.seq), ring: asArray(raw.ring) };
  for (const kind of ID_KINDS) state[kind] = asArray(raw[kind]);
  return state;
}

function counts(all: number, sensitive: number, exports: number, exported: number): WindowCounts {
  return { all, sensitive, exports, exported };
}

/**
 * Applies one (non-duplicate) input to a state and returns the new state and the view the event
 * saw. Pure: the given state is not changed. After a logout the new state is null.
 */
export function applyToWindow(
  prior: WindowState | null,
  input: ActionInput,
  limits: WindowLimits,
): { state: WindowState | null; view: WindowView } {
  const st = prior ?? emptyState();
  const next: WindowState = { ...st };
  const { ts } = input;
  const s01 = input.sensitive ? 1 : 0;
  const e01 = input.isExport ? 1 : 0;
  const x = input.exported;

  let capped = st.capped;
  const seen = {} as WindowView['seen'];
  const distinct = {} as WindowView['distinct'];
  for (const kind of ID_KINDS) {
    const id = input.ids[kind];
    const set = st[kind];
    seen[kind] = set.includes(id);
    if (!seen[kind]) {
      if (set.length < limits.maxDistinct) next[kind] = [...set, id];
      else capped = true;
    }
    distinct[kind] = next[kind].length;
  }

  const seq = [...st.seq, input.ids.fp].slice(-SEQ_LEN);

  const newLast = st.last === null ? ts : Math.max(st.last, ts);
  const cut = newLast - M10_MS;
  const m1 = counts(1, s01, e01, x);
  const m10 = counts(1, s01, e01, x);
  let ring: RingEntry[] = [];
  for (const entry of st.ring) {
    const [rt, rs, re, rx] = entry;
    if (rt <= ts && rt > ts - M10_MS) {
      m10.all += 1;
      m10.sensitive += rs;
      m10.exports += re;
      m10.exported += rx;
      if (rt > ts - M1_MS) {
        m1.all += 1;
        m1.sensitive += rs;
        m1.exports += re;
        m1.exported += rx;
      }
    }
    if (rt > cut) ring.push(entry);
  }
  if (ts > cut) ring.push([ts, s01, e01, x]);
  let ringCapped = false;
  if (ring.length > limits.maxRing) {
    ring = ring.slice(ring.length - limits.maxRing);
    ringCapped = true;
  }

  const view: WindowView = {
    duplicate: false,
    n: st.n,
    firstTs: st.first,
    lastTs: st.last,
    baseline: st.base ?? input.fp,
    prev: st.prev,
    seen,
    distinct,
    fpSeq: seq,
    counts: {
      m1,
      m10,
      session: counts(st.all + 1, st.sensitive + s01, st.exports + e01, st.exported + x),
    },
    // The ring cap only makes later events' counts lower bounds, so it is not part of this view.
    capped,
  };
  if (input.logout) return { state: null, view };

  next.n = st.n + 1;
  next.first = st.first === null ? ts : Math.min(st.first, ts);
  next.last = newLast;
  next.base = st.base ?? input.fp;
  // A late event does not move the last known location.
  if (st.last === null || ts >= st.last) next.prev = input.fp;
  next.seq = seq;
  next.ring = ring;
  next.all = view.counts.session.all;
  next.sensitive = view.counts.session.sensitive;
  next.exports = view.counts.session.exports;
  next.exported = view.counts.session.exported;
  next.capped = capped || ringCapped;
  return { state: next, view };
}
