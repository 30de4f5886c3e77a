import assert from 'node:assert/strict';
import type { ActionInput } from '../../../src/contract';
import { MemorySessionStore } from '../../../src/state/memory';
import type { WindowLimits, WindowState } from '../../../src/state/window';
import { applyToWindow, resolveStoreLimits } from '../../../src/state/window';

const T0 = 1_700_000_000_000;
const LIMITS: WindowLimits = { maxDistinct: 64, maxRing: 2000 };

interface Spec {
  id?: string;
  ts?: number;
  ua?: string;
  dev?: string | null;
  asn?: number | null;
  sensitive?: boolean;
  exported?: number;
  logout?: boolean;
  session?: string;
}

let counter = 0;
function mk(spec: Spec = {}): ActionInput {
  const ua = spec.ua ?? 'Mozilla/5.0';
  const dev = spec.dev === undefined ? 'd1' : spec.dev;
  const asn = spec.asn === undefined ? 64500 : spec.asn;
  const ts = spec.ts ?? T0;
  const exported = spec.exported ?? 0;
  return {
    sessionId: spec.session ?? 's1',
    eventId: spec.id ?? `e${++counter}`,
    ts,
    sensitive: spec.sensitive ?? exported > 0,
    isExport: exported > 0,
    exported,
    logout: spec.logout ?? false,
    fp: { ip: '10.0.0.1', asn, country: 'DE', lat: 52.52, lon: 13.405, ua, ja4: null, dev, ts },
    ids: {
      fp: `${ua}|${dev}|${asn}`,
      ua,
      ja4: '-',
      dev: dev ?? '-',
      asn: asn === null ? '-' : String(asn),
      country: 'DE',
    },
  };
}

/** Applies inputs in order and returns every view and the final state. */
function run(inputs: ActionInput[], limits = LIMITS) {
  let state: WindowState | null = null;
  const views = inputs.map((input) => {
    const out = applyToWindow(state, input, limits);
    state = out.state;
    return out.view;
  });
  return { views, state: state as WindowState | null };
}

describe('state/window applyToWindow', () => {
  it('first event: empty history, its own fingerprint as baseline', () => {
    const input = mk({ exported: 50 });
    const { views, state } = run([input]);
    const one = { all: 1, sensitive: 1, exports: 1, exported: 50 };
    assert.deepEqual(views[0], {
      duplicate: false,
      n: 0,
      firstTs: null,
      lastTs: null,
      baseline: input.fp,
      prev: null,
      seen: { fp: false, ua: false, ja4: false, dev: false, asn: false, country: false },
      distinct: { fp: 1, ua: 1, ja4: 1, dev: 1, asn: 1, country: 1 },
      fpSeq: [input.ids.fp],
      counts: { m1: one, m10: one, session: one },
      capped: false,
      arrival: 0,
    });
    assert.equal(state?.n, 1);
    assert.equal(state?.first, T0);
    assert.equal(state?.last, T0);
    assert.deepEqual(state?.base, input.fp);
    assert.deepEqual(state?.prev, input.fp);
    assert.deepEqual(state?.ring, [[T0, 1, 1, 50]]);
  });

  it('new device: only the changed parts are unseen', () => {
    const a = mk();
    const b = mk({ ts: T0 + 1000, dev: 'd2' });
    const { views } = run([a, b]);
    const v = views[1]!;
    assert.deepEqual(v.seen, { fp: false, ua: true, ja4: true, dev: false, asn: true, country: true });
    assert.deepEqual(v.distinct, { fp: 2, ua: 1, ja4: 1, dev: 2, asn: 1, country: 1 });
    assert.deepEqual(v.prev, a.fp);
    assert.deepEqual(v.baseline, a.fp);
    assert.deepEqual(v.fpSeq, [a.ids.fp, b.ids.fp]);
    assert.equal(v.n, 1);
  });

  it('late event: sees only earlier events in its windows and does not move prev or last', () => {
    const a = mk({ ts: T0 });
    const b = mk({ ts: T0 + 120_000, asn: 64501 });
    const late = mk({ ts: T0 + 30_000, asn: 64502 });
    const { views, state } = run([a, b, late]);
    const v = views[2]!;
    assert.equal(v.lastTs, T0 + 120_000);
    assert.deepEqual(v.prev, b.fp);
    assert.equal(v.counts.m1.all, 2);
    assert.equal(v.counts.m10.all, 2);
    assert.equal(v.counts.session.all, 3);
    assert.deepEqual(state?.prev, b.fp);
    assert.equal(state?.last, T0 + 120_000);
    assert.equal(state?.first, T0);
  });

  const edges: [string, number, number, number][] = [
    ['59 999 ms later: both in 1 min', 59_999, 2, 2],
    ['exactly 60 000 ms later: out of 1 min', 60_000, 1, 2],
    ['599 999 ms later: in 10 min', 599_999, 1, 2],
    ['exactly 600 000 ms later: out of 10 min', 600_000, 1, 1],
  ];
  for (const [name, gap, m1, m10] of edges) {
    it(`window edge, ${name}`, () => {
      const { views, state } = run([mk({ ts: T0 }), mk({ ts: T0 + gap })]);
      assert.equal(views[1]!.counts.m1.all, m1);
      assert.equal(views[1]!.counts.m10.all, m10);
      assert.equal(views[1]!.counts.session.all, 2);
      assert.equal(state!.ring.length, m10);
    });
  }

  it('counts sensitive actions and exported records per window', () => {
    const { views } = run([
      mk({ ts: T0, exported: 10 }),
      mk({ ts: T0 + 40_000, sensitive: true }),
      mk({ ts: T0 + 90_000, exported: 5 }),
    ]);
    const c = views[2]!.counts;
    assert.deepEqual(c.m1, { all: 2, sensitive: 2, exports: 1, exported: 5 });
    assert.deepEqual(c.m10, { all: 3, sensitive: 3, exports: 2, exported: 15 });
    assert.deepEqual(c.session, { all: 3, sensitive: 3, exports: 2, exported: 15 });
  });

  it('keeps the last 8 fingerprint ids', () => {
    const inputs = Array.from({ length: 10 }, (_, i) => mk({ ts: T0 + i, ua: `ua${i}` }));
    const { views } = run(inputs);
    assert.deepEqual(
      views[9]!.fpSeq,
      inputs.slice(2).map((i) => i.ids.fp),
    );
  });

  it('distinct cap: a new id past the cap is not added and the view is capped', () => {
    const limits = { maxDistinct: 2, maxRing: 2000 };
    const { views, state } = run(
      [mk({ ua: 'a' }), mk({ ua: 'b' }), mk({ ua: 'c' }), mk({ ua: 'a' })],
      limits,
    );
    assert.equal(views[1]!.capped, false);
    assert.equal(views[2]!.capped, true);
    assert.equal(views[2]!.seen.ua, false);
    assert.equal(views[2]!.distinct.ua, 2);
    assert.equal(views[3]!.seen.ua, true);
    assert.equal(views[3]!.capped, true);
    assert.deepEqual(state!.ua, ['a', 'b']);
  });

  it('ring cap: drops the oldest; later views are capped, the overflowing one is exact', () => {
    const limits = { maxDistinct: 64, maxRing: 3 };
    const inputs = Array.from({ length: 5 }, (_, i) => mk({ ts: T0 + i * 1000 }));
    const { views, state } = run(inputs, limits);
    assert.equal(views[3]!.capped, false);
    assert.equal(views[3]!.counts.m1.all, 4);
    assert.equal(views[4]!.capped, true);
    assert.equal(views[4]!.counts.m1.all, 4);
    assert.deepEqual(
      state!.ring.map((r) => r[0]),
      [T0 + 2000, T0 + 3000, T0 + 4000],
    );
    assert.equal(state!.capped, true);
  });

  it('logout: returns the view and no state', () => {
    const { views, state } = run([mk(), mk({ ts: T0 + 1, logout: true })]);
    assert.equal(views[1]!.n, 1);
    assert.equal(state, null);
  });

  it('does not change the given state', () => {
    const { state } = run([mk(), mk({ ts: T0 + 5, dev: 'd9' })]);
    const copy = structuredClone(state);
    applyToWindow(state, mk({ ts: T0 + 10, ua: 'other' }), { maxDistinct: 2, maxRing: 1 });
    assert.deepEqual(state, copy);
  });

  it('late event: goes into the ring in ts order, after events with the same ts', () => {
    const inputs = [
      mk({ ts: T0, sensitive: true }),
      mk({ ts: T0 + 50_000 }),
      mk({ ts: T0 + 20_000, exported: 7 }),
      mk({ ts: T0 + 20_000 }),
      mk({ ts: T0 + 70_000 }),
    ];
    const { views, state } = run(inputs);
    assert.deepEqual(
      state!.ring.map((r) => r[0]),
      [T0, T0 + 20_000, T0 + 20_000, T0 + 50_000, T0 + 70_000],
    );
    assert.deepEqual(state!.ring[1], [T0 + 20_000, 1, 1, 7]);
    // the second event at T0+20s counts the first one (same ts) and T0, not T0+50s
    assert.deepEqual(views[3]!.counts.m1, { all: 3, sensitive: 2, exports: 1, exported: 7 });
    // T0+70s: (T0+10s, T0+70s] holds both T0+20s events, T0+50s and itself
    assert.deepEqual(views[4]!.counts.m1, { all: 4, sensitive: 1, exports: 1, exported: 7 });
  });

  it('ring cap with a late event: the oldest by ts goes first', () => {
    const limits = { maxDistinct: 64, maxRing: 2 };
    const { state } = run([mk({ ts: T0 + 1000 }), mk({ ts: T0 + 3000 }), mk({ ts: T0 + 2000 })], limits);
    assert.deepEqual(
      state!.ring.map((r) => r[0]),
      [T0 + 2000, T0 + 3000],
    );
  });

  it('rejects a limit that is not a positive integer, naming it', () => {
    assert.throws(() => resolveStoreLimits({ maxRing: 0 }), /maxRing/);
    assert.throws(() => resolveStoreLimits({ idleTtlMs: 1.5 }), /idleTtlMs/);
  });
});

describe('state/memory MemorySessionStore', () => {
  it('duplicate event id: the stored view, duplicate: true, state unchanged', async () => {
    const store = new MemorySessionStore();
    const a = mk({ id: 'a' });
    const [first] = await store.applyBatch([a, mk({ id: 'b', ts: T0 + 1 })]);
    const before = structuredClone(store.peek('s1'));
    const [again, inBatch] = await store.applyBatch([a, mk({ id: 'c', ts: T0 + 2 })]);
    assert.deepEqual(again, { ...first, duplicate: true });
    assert.equal(inBatch!.n, 2);
    const [twice, thrice] = await store.applyBatch([
      mk({ id: 'd', ts: T0 + 3 }),
      mk({ id: 'd', ts: T0 + 3 }),
    ]);
    assert.equal(thrice!.duplicate, true);
    assert.deepEqual({ ...thrice, duplicate: false }, twice);
    assert.equal(before?.n, 2);
    assert.equal(store.peek('s1')?.n, 4);
  });

  it('logout deletes the window but keeps the ledger; the next event starts a new window', async () => {
    const store = new MemorySessionStore();
    const out = await store.applyBatch([mk({ id: 'a' }), mk({ id: 'lo', ts: T0 + 1, logout: true })]);
    assert.equal(store.peek('s1'), null);
    const [redelivered, fresh] = await store.applyBatch([
      mk({ id: 'lo', ts: T0 + 1, logout: true }),
      mk({ id: 'z', ts: T0 + 2 }),
    ]);
    assert.deepEqual(redelivered, { ...out[1], duplicate: true });
    assert.equal(fresh!.n, 0);
    assert.equal(store.peek('s1')?.n, 1);
  });

  it('expires idle sessions and evicts the least recently used past maxSessions', async () => {
    let now = 0;
    const store = new MemorySessionStore({ idleTtlMs: 1000, maxSessions: 2, now: () => now });
    await store.applyBatch([mk({ session: 'a' }), mk({ session: 'b' })]);
    now = 500;
    await store.applyBatch([mk({ session: 'a' }), mk({ session: 'c' })]);
    assert.equal(store.evictions, 1);
    assert.equal(store.peek('b'), null);
    assert.equal(store.peek('a')?.n, 2);
    now = 1600;
    assert.equal(store.peek('a'), null);
    await store.applyBatch([mk({ session: 'd' })]);
    assert.equal(store.expirations, 2);
    assert.equal(store.size, 1);
  });

  it('by event time: a batch spanning hours does not expire a session whose next event is within its idle time', async () => {
    const ttl = 3_600_000;
    const store = new MemorySessionStore({ idleTtlMs: ttl, eventTime: true });
    let id = 0;
    const at = (session: string, ts: number) => mk({ session, id: `e${id++}`, ts: T0 + ts });
    await store.applyBatch([at('a', 0)]);
    // One batch from 15 minutes to 3 hours later: 'a' comes back after 30 minutes.
    const [, cont] = await store.applyBatch([at('b', ttl / 4), at('a', ttl / 2), at('b', 3 * ttl)]);
    assert.equal(cont!.n, 1, 'continues its window');
    // More than the idle time after a's latest event: forgotten, and its window starts over.
    const [fresh] = await store.applyBatch([at('a', ttl / 2 + ttl + 1)]);
    assert.equal(fresh!.n, 0);
    assert.equal(store.expirations, 1);
    // Exactly the idle time later: the window still continues (it starts over only past it).
    const [edge] = await store.applyBatch([at('a', ttl / 2 + 2 * ttl + 1)]);
    assert.equal(edge!.n, 1);
  });

  it('dedupe ledger is capped: the oldest event id is forgotten', async () => {
    const store = new MemorySessionStore({ dedupeCap: 2 });
    await store.applyBatch([mk({ id: 'x' }), mk({ id: 'y' }), mk({ id: 'z' })]);
    const [x, z] = await store.applyBatch([mk({ id: 'x' }), mk({ id: 'z' })]);
    assert.equal(x!.duplicate, false);
    assert.equal(z!.duplicate, true);
  });
});
