import assert from 'node:assert/strict';
import type { IndexedDecision, SessionStore, SettleBatch } from '../../src/contract';
import { toActionInput } from '../../src/state/input';
import type { TimelineLimits } from '../../src/state/keys';
import { action } from './fixtures';
import { sleep } from './services';

/** What the suite varies per test; both stores take these options under the same names. */
export interface ContractStoreOptions {
  idleTtlMs?: number;
  timeline?: TimelineLimits;
}

export interface ContractTraits {
  /**
   * How many decisions the index may hold past maxDecisions. 0 for an exact cap; Redis trims with
   * `MAXLEN ~`, which drops whole stream nodes only.
   */
  decisionsSlack?: () => number | Promise<number>;
}

const IDLE_TTL_MS = 120_000;
const T = 1_760_000_000_000;

const EMPTY: SettleBatch = { policy: [], timeline: [], decisions: [] };
const decision = (i: number) => JSON.stringify({ decision_id: `d${i}`, decision: 'STEP_UP' });
const ids = (rows: readonly IndexedDecision[]) =>
  rows.map((r) => (JSON.parse(r.json) as { decision_id: string }).decision_id);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Resolves with the call's result and how long it took. */
async function timed<T>(call: Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await call;
  return [value, performance.now() - started];
}

/**
 * The analyst API's part of the SessionStore contract (settle, readSession, readTimeline,
 * readDecisions, followDecisions), registered as `it`s in the caller's describe so every store
 * proves the same semantics. `makeStore` gets a fresh, empty store; the suite closes it.
 */
export function investigationContract(
  name: string,
  makeStore: (options: ContractStoreOptions) => SessionStore,
  traits: ContractTraits = {},
): void {
  const open: SessionStore[] = [];
  const make = (options: ContractStoreOptions = {}) => {
    const store = makeStore({ idleTtlMs: IDLE_TTL_MS, ...options });
    open.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  /** Applies one real action so the session exists in the store (settle follows applyBatch). */
  const touch = async (store: SessionStore, sessionId: string) => {
    await store.applyBatch([toActionInput(action({ session_id: sessionId, ts: T }))]);
  };
  const settleDecisions = (store: SessionStore, from: number, to: number) =>
    store.settle({ ...EMPTY, decisions: range(from, to).map(decision) });
  /**
   * A follow woken by a settle may return only the first of the decisions it added: whatever it
   * returns must be the oldest of them, and a catch-up from its last cursor brings the rest.
   */
  const wokenWith = async (store: SessionStore, rows: IndexedDecision[]) => {
    assert.ok(rows.length > 0, 'woken with nothing');
    const rest = await store.followDecisions(rows[rows.length - 1]!.cursor, 0);
    return ids([...rows, ...rest]);
  };
  const readAll = async (store: SessionStore) => {
    const all: IndexedDecision[] = [];
    for (let page = await store.readDecisions(null, 100); page.length > 0;) {
      all.push(...page);
      page = await store.readDecisions(page[page.length - 1]!.cursor, 100);
    }
    return all;
  };

  it(`${name}: settle keeps a policy state only when its asOf is greater than the stored one`, async () => {
    const store = make();
    await touch(store, 's1');
    const policyOf = async () => {
      const [loaded] = await store.loadPolicy(['s1']);
      assert.equal((await store.readSession('s1')).policy, loaded);
      return loaded;
    };
    assert.equal(await policyOf(), null);
    await store.settle({ ...EMPTY, policy: [{ sessionId: 's1', asOf: 5, state: 'A' }] });
    assert.equal(await policyOf(), 'A');
    await store.settle({ ...EMPTY, policy: [{ sessionId: 's1', asOf: 3, state: 'late' }] });
    assert.equal(await policyOf(), 'A', 'a late writer never overwrites a newer state');
    await store.settle({ ...EMPTY, policy: [{ sessionId: 's1', asOf: 5, state: 'same' }] });
    assert.equal(await policyOf(), 'A', 'an equal asOf does not overwrite either');
    await store.settle({ ...EMPTY, policy: [{ sessionId: 's1', asOf: 6, state: 'B' }] });
    assert.equal(await policyOf(), 'B');
    await store.settle({
      ...EMPTY,
      policy: [
        { sessionId: 's1', asOf: 9, state: 'C' },
        { sessionId: 's1', asOf: 8, state: 'older, same batch' },
      ],
    });
    assert.equal(await policyOf(), 'C');
    assert.deepEqual(await store.loadPolicy(['s1', 'unknown']), ['C', null]);
  });

  it(`${name}: the timeline comes back oldest first by n; the same n written again replaces the entry`, async () => {
    const store = make();
    await touch(store, 's1');
    await touch(store, 's2');
    const tl = (sessionId: string, n: number, entry = `{"n":${n}}`) => ({ sessionId, n, entry });
    // n 10 after n 9 and 2: numeric order, not text order.
    await store.settle({ ...EMPTY, timeline: [tl('s1', 10), tl('s1', 2), tl('s2', 1)] });
    await store.settle({ ...EMPTY, timeline: [tl('s1', 9)] });
    assert.deepEqual(await store.readTimeline('s1'), ['{"n":2}', '{"n":9}', '{"n":10}']);
    assert.deepEqual(await store.readTimeline('s2'), ['{"n":1}']);
    // A re-decided batch writes its entries again.
    await store.settle({ ...EMPTY, timeline: [tl('s1', 9, '{"n":9,"again":1}')] });
    assert.deepEqual(await store.readTimeline('s1'), ['{"n":2}', '{"n":9,"again":1}', '{"n":10}']);
    // Twice in one batch (a window that started over reuses n): the later one wins.
    await store.settle({ ...EMPTY, timeline: [tl('s1', 2, '{"first":1}'), tl('s1', 2, '{"second":1}')] });
    assert.deepEqual(await store.readTimeline('s1'), ['{"second":1}', '{"n":9,"again":1}', '{"n":10}']);
    assert.deepEqual(await store.readTimeline('unknown'), []);
  });

  it(`${name}: the timeline is capped at maxEntries, keeping the newest; maxEntries 0 keeps none`, async () => {
    const store = make({ timeline: { maxEntries: 3, ttlMs: 3_600_000, maxDecisions: 10 } });
    await touch(store, 's1');
    const entries = (ns: number[]) => ns.map((n) => ({ sessionId: 's1', n, entry: `e${n}` }));
    await store.settle({ ...EMPTY, timeline: entries([1, 2]) });
    await store.settle({ ...EMPTY, timeline: entries([3, 4, 5]) });
    assert.deepEqual(await store.readTimeline('s1'), ['e3', 'e4', 'e5']);
    await store.settle({ ...EMPTY, timeline: entries([1]) });
    assert.deepEqual(await store.readTimeline('s1'), ['e3', 'e4', 'e5'], 'an older entry falls off at once');

    const none = make({ timeline: { maxEntries: 0, ttlMs: 3_600_000, maxDecisions: 10 } });
    await touch(none, 's1');
    await none.settle({
      policy: [{ sessionId: 's1', asOf: 1, state: 'P' }],
      timeline: entries([1, 2]),
      decisions: [decision(1)],
    });
    assert.deepEqual(await none.readTimeline('s1'), []);
    assert.equal((await none.readSession('s1')).policy, 'P', 'the rest of the batch is kept');
    assert.deepEqual(ids(await none.readDecisions(null, 10)), ['d1']);
  });

  it(`${name}: readSession summarizes the window; an unknown session has none`, async () => {
    const store = make();
    const mobile = { user_agent: 'Mobile/1', device_id: 'dev-2', asn: 64_500 };
    const actions = [
      action({ session_id: 's1', ts: T }),
      action({ session_id: 's1', ts: T + 60_000, client: mobile }),
      action({ session_id: 's1', ts: T + 120_000 }),
      // Late: it counts, but the latest fingerprint stays the one with the latest event time.
      action({ session_id: 's1', ts: T + 30_000, client: { ...mobile, country: 'DE' } }),
    ];
    const inputs = actions.map(toActionInput);
    await store.applyBatch(inputs);
    const session = await store.readSession('s1');
    assert.deepEqual(session.window, {
      events: 4,
      firstTs: T,
      lastTs: T + 120_000,
      baseline: inputs[0]!.fp,
      latest: inputs[2]!.fp,
      distinct: { fp: 2, ua: 2, ja4: 1, dev: 2, asn: 2, country: 2 },
      capped: false,
    });
    assert.equal(session.policy, null);
    assert.ok(
      session.expiresInMs !== null && session.expiresInMs > IDLE_TTL_MS - 10_000,
      `expiresInMs ${session.expiresInMs}`,
    );
    assert.ok(session.expiresInMs <= IDLE_TTL_MS, `expiresInMs ${session.expiresInMs}`);
    assert.deepEqual(await store.readSession('unknown'), { window: null, policy: null, expiresInMs: null });
  });

  it(`${name}: readDecisions pages newest first with cursors, without overlap or gaps`, async () => {
    const store = make();
    assert.deepEqual(await store.readDecisions(null, 10), []);
    await settleDecisions(store, 1, 2);
    await settleDecisions(store, 3, 5);
    await settleDecisions(store, 6, 7);
    const pages: string[][] = [];
    let before: string | null = null;
    for (;;) {
      const page: IndexedDecision[] = await store.readDecisions(before, 3);
      if (page.length === 0) break;
      pages.push(ids(page));
      before = page[page.length - 1]!.cursor;
    }
    assert.deepEqual(pages, [['d7', 'd6', 'd5'], ['d4', 'd3', 'd2'], ['d1']]);
    const cursors = (await readAll(store)).map((r) => r.cursor);
    assert.equal(new Set(cursors).size, 7);
  });

  it(`${name}: the timeline is forgotten timeline.ttl after its last entry`, async () => {
    const store = make({ timeline: { maxEntries: 10, ttlMs: 300, maxDecisions: 10 } });
    await touch(store, 's1');
    const entry = (n: number) => ({ sessionId: 's1', n, entry: `e${n}` });
    await store.settle({ ...EMPTY, timeline: [entry(1)] });
    await new Promise((r) => setTimeout(r, 200));
    await store.settle({ ...EMPTY, timeline: [entry(2)] });
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await store.readTimeline('s1'), ['e1', 'e2'], 'each entry restarts the clock');
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(await store.readTimeline('s1'), []);
  });

  it(`${name}: the decisions index is capped at about maxDecisions, keeping the newest`, async () => {
    const store = make({ timeline: { maxEntries: 10, ttlMs: 3_600_000, maxDecisions: 10 } });
    for (let i = 1; i <= 250; i += 25) await settleDecisions(store, i, i + 24);
    const kept = ids(await readAll(store));
    const slack = (await traits.decisionsSlack?.()) ?? 0;
    assert.ok(kept.length >= 10 && kept.length <= 10 + slack, `${kept.length} kept (slack ${slack})`);
    // Whatever is kept is the newest, in order, without gaps.
    assert.deepEqual(
      kept,
      range(251 - kept.length, 250)
        .reverse()
        .map((i) => `d${i}`),
    );

    const none = make({ timeline: { maxEntries: 10, ttlMs: 3_600_000, maxDecisions: 0 } });
    await settleDecisions(none, 1, 3);
    assert.deepEqual(await none.readDecisions(null, 10), []);
  });

  it(`${name}: followDecisions(null) returns only decisions indexed after the call, waking early`, async () => {
    const store = make();
    await settleDecisions(store, 1, 2);
    // Settled right after the call starts, without a pause.
    const first = timed(store.followDecisions(null, 5000));
    await settleDecisions(store, 3, 3);
    const [rows, ms] = await first;
    assert.deepEqual(ids(rows), ['d3']);
    assert.ok(ms < 1000, `took ${ms} ms`);
    // Settled while it waits.
    const second = timed(store.followDecisions(null, 5000));
    await sleep(200);
    await settleDecisions(store, 4, 5);
    const [later, waited] = await second;
    assert.deepEqual(await wokenWith(store, later), ['d4', 'd5']);
    assert.ok(waited >= 150 && waited < 1500, `took ${waited} ms`);
  });

  it(`${name}: followDecisions(cursor) returns what is newer, oldest first; nothing new is [] after waitMs`, async () => {
    const store = make();
    // An empty index: the live feed starts from '0'.
    const fromStart = store.followDecisions('0', 5000);
    await sleep(50);
    await settleDecisions(store, 1, 5);
    assert.deepEqual(await wokenWith(store, await fromStart), ['d1', 'd2', 'd3', 'd4', 'd5']);
    const [d2, d1] = (await store.readDecisions(null, 5)).slice(3);
    assert.deepEqual(ids([d1!, d2!]), ['d1', 'd2']);
    const [newer, ms] = await timed(store.followDecisions(d2!.cursor, 5000));
    assert.deepEqual(ids(newer), ['d3', 'd4', 'd5']);
    assert.ok(ms < 1000, `took ${ms} ms`);

    const [latest] = await store.readDecisions(null, 1);
    const [none, waited] = await timed(store.followDecisions(latest!.cursor, 300));
    assert.deepEqual(none, []);
    assert.ok(waited >= 280 && waited < 1500, `waited ${waited} ms`);
    const [nothing, idle] = await timed(store.followDecisions(null, 300));
    assert.deepEqual(nothing, []);
    assert.ok(idle >= 280 && idle < 1500, `waited ${idle} ms`);
  });

  it(`${name}: followDecisions(cursor, 0) answers at once, also while another follow waits`, async () => {
    const store = make();
    await settleDecisions(store, 1, 3);
    const [, , d1] = await store.readDecisions(null, 3);
    const [caughtUp, ms] = await timed(store.followDecisions(d1!.cursor, 0));
    assert.deepEqual(ids(caughtUp), ['d2', 'd3']);
    assert.ok(ms < 100, `took ${ms} ms`);
    const [latest] = await store.readDecisions(null, 1);
    const [none, idle] = await timed(store.followDecisions(latest!.cursor, 0));
    assert.deepEqual(none, []);
    assert.ok(idle < 100, `took ${idle} ms`);

    // The live feed's own follow is waiting; a client's catch-up must not queue behind it.
    const feed = store.followDecisions(null, 3000);
    await sleep(50);
    const [again, busy] = await timed(store.followDecisions(d1!.cursor, 0));
    assert.deepEqual(ids(again), ['d2', 'd3']);
    assert.ok(busy < 100, `took ${busy} ms while a follow was waiting`);
    await settleDecisions(store, 4, 4);
    assert.deepEqual(ids(await feed), ['d4']);
  });

  it(`${name}: a settle with nothing in it changes nothing`, async () => {
    const store = make();
    await touch(store, 's1');
    await store.settle({
      policy: [{ sessionId: 's1', asOf: 1, state: 'P' }],
      timeline: [{ sessionId: 's1', n: 0, entry: 'e0' }],
      decisions: [decision(1)],
    });
    const snapshot = async () => [
      await store.readSession('s1').then((s) => ({ ...s, expiresInMs: null })),
      await store.readTimeline('s1'),
      await readAll(store),
    ];
    const before = await snapshot();
    const waiting = store.followDecisions(null, 400);
    await sleep(50);
    await store.settle(EMPTY);
    assert.deepEqual(await snapshot(), before);
    assert.deepEqual(await waiting, [], 'a follower is not handed anything');
  });

  it(`${name}: close() ends a waiting followDecisions; later ones return [] at once`, async () => {
    const store = makeStore({ idleTtlMs: IDLE_TTL_MS });
    await settleDecisions(store, 1, 1);
    const waiting = timed(store.followDecisions(null, 5000));
    await sleep(100);
    await store.close();
    const [rows, ms] = await waiting;
    assert.deepEqual(rows, []);
    assert.ok(ms < 1000, `took ${ms} ms`);
    const [after, quick] = await timed(store.followDecisions(null, 5000));
    assert.deepEqual(after, []);
    assert.ok(quick < 100, `took ${quick} ms`);
  });
}
