import type { ActionInput, FingerprintSnapshot, WindowCounts, WindowSummary, WindowView } from '../contract';
import { RiskStreamError } from '../errors';

/**
 * The session window, in TypeScript. This is the twin of `lua/applyActions-4.lua`: the same state
 * (decodeState reads the packed form Redis stores under the `win` key) and the same view for every
 * input.
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
  /** Sorted by ts (ties in arrival order); entries at or before the latest ts minus 10 min are dropped. */
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
  /** The ledger (not the window) is forgotten after this long without an event. @default 1_800_000 */
  dedupeTtlMs?: number;
}

export type StoreLimits = Required<StoreOptions>;

export const STORE_DEFAULTS: StoreLimits = {
  idleTtlMs: 30 * 60_000,
  dedupeCap: 1000,
  dedupeTtlMs: 30 * 60_000,
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

const STATE_NUMBERS = 18;
const STATE_STRINGS = 10;
const RING_ENTRY = 32;

/** Reads the ids of a Lua set string: `,a,b,` -> [a, b]; `,` -> []. */
const setIds = (text: string): string[] => (text.length <= 1 ? [] : text.slice(1, -1).split(','));
const snapshot = (text: string): FingerprintSnapshot | null =>
  text === '' ? null : (JSON.parse(text) as FingerprintSnapshot);

/**
 * Reads the packed `win` value the Lua script writes (STATE in applyActions-4.lua): 18 little-endian
 * doubles, then 10 strings each with a 32-bit length. The ring entries hold running totals; this
 * turns them back into each event's own values.
 */
export function decodeState(packed: Buffer): WindowState {
  const num: number[] = [];
  let pos = 0;
  for (let i = 0; i < STATE_NUMBERS; i++, pos += 8) num.push(packed.readDoubleLE(pos));
  const str: Buffer[] = [];
  for (let i = 0; i < STATE_STRINGS; i++) {
    const len = packed.readInt32LE(pos);
    str.push(packed.subarray(pos + 4, pos + 4 + len));
    pos += 4 + len;
  }
  if (pos !== packed.length) {
    throw new RiskStreamError(
      'STORE_SCRIPT',
      `window state: ${packed.length - pos} bytes after the last field`,
    );
  }
  // Not `exports`: compiled to CommonJS, a local of that name hides the module's exports object
  // (ID_KINDS below is read as exports.ID_KINDS).
  const [n, first, last, all, sensitive, exportCount, exported, capped] = num as [number, ...number[]];
  const text = str.map((b) => b.toString('utf8'));
  const ringBytes = str[9]!;
  const ring: RingEntry[] = [];
  let [s, e, x] = num.slice(15, 18) as [number, number, number];
  for (let at = 0; at < ringBytes.length; at += RING_ENTRY) {
    const cum = [8, 16, 24].map((o) => ringBytes.readDoubleLE(at + o)) as [number, number, number];
    ring.push([ringBytes.readDoubleLE(at), cum[0] - s, cum[1] - e, cum[2] - x]);
    [s, e, x] = cum;
  }
  const state: WindowState = {
    ...emptyState(),
    n,
    first: n > 0 ? first! : null,
    last: n > 0 ? last! : null,
    base: snapshot(text[0]!),
    prev: snapshot(text[1]!),
    seq: text[8] === '' ? [] : text[8]!.split(','),
    ring,
    all: all!,
    sensitive: sensitive!,
    exports: exportCount!,
    exported: exported!,
    capped: capped === 1,
  };
  ID_KINDS.forEach((kind, k) => {
    state[kind] = setIds(text[2 + k]!);
  });
  return state;
}

/** Number of ring entries (sorted by ts) among the first `len` with ts <= t. */
function upto(ring: readonly RingEntry[], len: number, t: number): number {
  let lo = 0;
  let hi = len;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ring[mid - 1]![0] <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Own event plus the ring entries at positions [from, to). */
function windowCounts(ring: readonly RingEntry[], from: number, to: number, own: RingEntry): WindowCounts {
  const c = counts(1 + to - from, own[1], own[2], own[3]);
  for (let i = from; i < to; i++) {
    const [, rs, re, rx] = ring[i]!;
    c.sensitive += rs;
    c.exports += re;
    c.exported += rx;
  }
  return c;
}

function counts(all: number, sensitive: number, exportCount: number, exported: number): WindowCounts {
  return { all, sensitive, exports: exportCount, exported };
}

/** A copy that shares nothing mutable with `st` (the fingerprint snapshots are never changed). */
function cloneState(st: WindowState): WindowState {
  return {
    ...st,
    fp: st.fp.slice(),
    ua: st.ua.slice(),
    ja4: st.ja4.slice(),
    dev: st.dev.slice(),
    asn: st.asn.slice(),
    country: st.country.slice(),
    seq: st.seq.slice(),
    ring: st.ring.slice(),
  };
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
  return applyInPlace(prior === null ? null : cloneState(prior), input, limits);
}

/**
 * applyToWindow, changing `st` itself (the stores own their states; this spares a copy of the
 * ring and the sets per event). The view shares no array with the state. `arrival` is the
 * session's count of earlier events (the session entry keeps it); by default the window's.
 */
export function applyInPlace(
  prior: WindowState | null,
  input: ActionInput,
  limits: WindowLimits,
  arrival = prior?.n ?? 0,
): { state: WindowState | null; view: WindowView } {
  const st = prior ?? emptyState();
  const { ts } = input;
  const s01 = input.sensitive ? 1 : 0;
  const e01 = input.isExport ? 1 : 0;
  const x = input.exported;
  const { n, first, last, base, prev } = st;

  let capped = st.capped;
  const seen = {} as WindowView['seen'];
  const distinct = {} as WindowView['distinct'];
  for (const kind of ID_KINDS) {
    const id = input.ids[kind];
    const set = st[kind];
    seen[kind] = set.includes(id);
    if (!seen[kind]) {
      if (set.length < limits.maxDistinct) set.push(id);
      else capped = true;
    }
    distinct[kind] = set.length;
  }

  const seq =
    st.seq.length < SEQ_LEN ? [...st.seq, input.ids.fp] : [...st.seq.slice(1 - SEQ_LEN), input.ids.fp];

  // The ring is sorted by ts (a late event goes in after the events with the same ts).
  const ring = st.ring;
  const own: RingEntry = [ts, s01, e01, x];
  const hi = upto(ring, ring.length, ts);
  const lo1 = upto(ring, hi, ts - M1_MS);
  const lo10 = upto(ring, lo1, ts - M10_MS);
  const m1 = windowCounts(ring, lo1, hi, own);
  const m10 = windowCounts(ring, lo10, hi, own);

  const view: WindowView = {
    duplicate: false,
    n,
    firstTs: first,
    lastTs: last,
    baseline: base ?? input.fp,
    prev,
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
    arrival,
  };
  if (input.logout) return { state: null, view };

  const newLast = last === null ? ts : Math.max(last, ts);
  const cut = newLast - M10_MS;
  if (ts > cut) {
    if (hi === ring.length) ring.push(own);
    else ring.splice(hi, 0, own);
  }
  const stale = upto(ring, ring.length, cut);
  if (stale > 0) ring.splice(0, stale);
  let ringCapped = false;
  if (ring.length > limits.maxRing) {
    ring.splice(0, ring.length - limits.maxRing);
    ringCapped = true;
  }

  st.n = n + 1;
  st.first = first === null ? ts : Math.min(first, ts);
  st.last = newLast;
  st.base = base ?? input.fp;
  // A late event does not move the last known location.
  if (last === null || ts >= last) st.prev = input.fp;
  st.seq = seq.slice();
  st.all = view.counts.session.all;
  st.sensitive = view.counts.session.sensitive;
  st.exports = view.counts.session.exports;
  st.exported = view.counts.session.exported;
  st.capped = capped || ringCapped;
  return { state: st, view };
}

/** One session as both stores hold it in memory. */
export interface SessionEntry {
  /** null before the first event and after a logout. */
  state: WindowState | null;
  /** eventId -> the view returned the first time; a Map iterates oldest first. */
  ledger: Map<string, WindowView>;
  /** Events applied to the session, across windows (WindowView.arrival); kept like the ledger. */
  arrivals: number;
}

/**
 * Applies one input to a session in place: a known eventId gets its stored view back marked as a
 * duplicate and changes nothing; an event more than idleTtlMs (event time) after the session's
 * last one starts a new window. `ledgerCap` bounds the ledger (oldest forgotten first).
 */
export function applyToSession(
  entry: SessionEntry,
  input: ActionInput,
  limits: StoreLimits,
  ledgerCap: number,
): { view: WindowView; fresh: boolean } {
  const stored = entry.ledger.get(input.eventId);
  if (stored) return { view: { ...stored, duplicate: true }, fresh: false };
  const st = entry.state;
  const prior = st && st.n > 0 && input.ts - (st.last ?? input.ts) > limits.idleTtlMs ? null : st;
  const { state, view } = applyInPlace(prior, input, limits, entry.arrivals);
  entry.arrivals += 1;
  entry.state = state;
  entry.ledger.set(input.eventId, view);
  while (entry.ledger.size > ledgerCap) entry.ledger.delete(entry.ledger.keys().next().value as string);
  return { view, fresh: true };
}

/** The analyst API's view of a window (SessionStore.readSession). */
export function summarizeWindow(state: WindowState): WindowSummary {
  return {
    events: state.n,
    firstTs: state.first,
    lastTs: state.last,
    baseline: state.base,
    latest: state.prev,
    distinct: {
      fp: state.fp.length,
      ua: state.ua.length,
      ja4: state.ja4.length,
      dev: state.dev.length,
      asn: state.asn.length,
      country: state.country.length,
    },
    capped: state.capped,
  };
}
