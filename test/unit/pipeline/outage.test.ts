import assert from 'node:assert/strict';
import { buildMemoryStore, buildModel, buildPipeline } from '../../../src/cli/context';
import { loadSettings } from '../../../src/config/load';
import type { ActionInput, RawRecord, SessionAction, SessionStore, SettleBatch } from '../../../src/contract';
import { RiskStreamError } from '../../../src/errors';
import { MemorySink } from '../../../src/emit/files';
import { silentLogger } from '../../../src/log';
import { createMetrics } from '../../../src/metrics/metrics';
import type { Scorer } from '../../../src/model/scorer';
import { createBatchHandler } from '../../../src/pipeline/handler';
import { StoreOutage } from '../../../src/pipeline/outage';
import type { MemorySessionStore } from '../../../src/state/memory';
import { action, lineRecord } from '../../helpers/fixtures';

const down = () =>
  new RiskStreamError('STORE_UNAVAILABLE', 'session store unavailable: down', { retriable: true });

/** The memory store, switched off and on by the test (Redis down), and able to say its state was lost. */
class FlakyStore implements SessionStore {
  up = true;
  lostAt: number | null = null;
  constructor(readonly inner: MemorySessionStore) {}
  applyBatch(inputs: readonly ActionInput[]) {
    return this.up ? this.inner.applyBatch(inputs) : Promise.reject(down());
  }
  loadPolicy(ids: readonly string[]) {
    return this.up ? this.inner.loadPolicy(ids) : Promise.reject(down());
  }
  settle(batch: SettleBatch) {
    return this.up ? this.inner.settle(batch) : Promise.reject(down());
  }
  readSession(id: string) {
    return this.inner.readSession(id);
  }
  readTimeline(id: string) {
    return this.inner.readTimeline(id);
  }
  readDecisions(before: string | null, count: number) {
    return this.inner.readDecisions(before, count);
  }
  followDecisions(after: string | null, waitMs: number) {
    return this.inner.followDecisions(after, waitMs);
  }
  ping() {
    return Promise.resolve(this.up);
  }
  stateLostAt() {
    return this.lostAt;
  }
  close() {
    return this.inner.close();
  }
}

const raw = (a: SessionAction): RawRecord => lineRecord(JSON.stringify(a), null);

describe('pipeline/outage: deciding without the store, the catch-up, lost state', function () {
  this.timeout(60_000);
  const settings = loadSettings({ env: {} });
  let scorer: Scorer;
  let clock = 1_000_000;
  const T = Date.now() - 3_600_000;

  before(async () => {
    scorer = await buildModel(settings, silentLogger());
  });
  after(() => scorer.dispose());

  function engine(mode: 'wait' | 'decide') {
    const store = new FlakyStore(buildMemoryStore(settings));
    const outage = new StoreOutage({ mode, afterMs: 2000, probe: () => store.ping(), now: () => clock });
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const sink = new MemorySink();
    const process = buildPipeline({
      settings,
      store,
      model: () => scorer,
      format: 'json',
      allowJson: true,
      outage,
      metrics,
    });
    const handler = createBatchHandler({ process, sink, emitAllow: true, source: 'test', outage, metrics });
    return { store, outage, metrics, sink, handler };
  }

  /** A session: a login, a view, then what the test adds. */
  const session = (id: string) => [
    action({ session_id: id, action: 'login', ts: T }),
    action({ session_id: id, action: 'view', ts: T + 1000 }),
  ];

  it('StoreOutage: decides without the store only with `decide`, after afterMs, while the store does not answer', () => {
    clock = 1_000_000;
    const o = new StoreOutage({
      mode: 'decide',
      afterMs: 2000,
      probe: () => Promise.resolve(false),
      now: () => clock,
    });
    const w = new StoreOutage({
      mode: 'wait',
      afterMs: 0,
      probe: () => Promise.resolve(false),
      now: () => clock,
    });
    try {
      assert.equal(o.degraded(), false);
      assert.equal(o.retryNow(), true, 'no outage: a failure of another kind is retried as usual');
      o.failed();
      w.failed();
      assert.equal(o.degraded(), false);
      assert.equal(o.retryNow(), false);
      clock += 2000;
      assert.equal(o.degraded(), true);
      assert.equal(o.retryNow(), true, 'a held batch goes on without the store');
      assert.equal(w.degraded(), false, '`wait` never decides without the store');
      o.succeeded();
      assert.equal(o.degraded(), false);
    } finally {
      o.close();
      w.close();
    }
  });

  it('`wait`: a batch fails while the store is down and nothing is decided', async () => {
    const e = engine('wait');
    try {
      await e.handler.handle(session('s-w').map(raw));
      e.store.up = false;
      await assert.rejects(
        e.handler.process([raw(action({ session_id: 's-w', ts: T + 2000 }))]),
        /unavailable/,
      );
      clock += 60_000;
      await assert.rejects(
        e.handler.process([raw(action({ session_id: 's-w', ts: T + 2000 }))]),
        /unavailable/,
      );
      assert.equal(e.outage.degraded(), false);
    } finally {
      e.outage.close();
    }
  });

  it('`decide`: answers by sensitivity without the store, counted; the next batch catches the store up; a redelivered copy gets the same answer', async () => {
    const e = engine('decide');
    try {
      await e.handler.handle(session('s-d').map(raw));
      e.store.up = false;
      const exp = action({ session_id: 's-d', action: 'export', records: 5, ts: T + 2000 });
      await assert.rejects(e.handler.process([raw(exp)]));
      clock += 2000;
      const view = action({ session_id: 's-d', action: 'view', ts: T + 3000 });
      const r1 = await e.handler.process([raw(exp), raw(view)]);
      assert.equal(r1.degraded, true);
      await e.handler.emit([raw(exp), raw(view)], r1);
      assert.deepEqual(
        r1.decisions.map((d) => [d.decision, d.policy_rule, d.score, d.reasons[0]!.code]),
        [
          ['BLOCK_ACTION', 'outage.withoutState.high', 0, 'STATE_UNAVAILABLE'],
          ['ALLOW', 'outage.withoutState.none', 0, 'STATE_UNAVAILABLE'],
        ],
      );
      const counted = (await e.metrics.degradedDecisions.get()).values.map((v) => [
        v.labels.decision,
        v.value,
      ]);
      assert.deepEqual(counted.sort(), [
        ['ALLOW', 1],
        ['BLOCK_ACTION', 1],
      ]);
      assert.equal(e.outage.pending, 2);

      // Redis is back (the probe sees it within half a second): the next batch carries the two
      // events to the store first.
      e.store.up = true;
      await new Promise((r) => setTimeout(r, 700));
      const next = action({ session_id: 's-d', action: 'view', ts: T + 4000 });
      const r2 = await e.handler.handle([raw(next)]);
      assert.equal(r2.degraded, undefined);
      assert.deepEqual(
        r2.decisions.map((d) => d.event_id),
        [next.event_id],
      );
      assert.equal(e.outage.pending, 0);
      const window = await e.store.readSession('s-d');
      assert.equal(window.window?.events, 5, 'the window has every event, those decided without it included');

      // A redelivered copy (a crash before the commit): the answer it got, not a score.
      const again = await e.handler.handle([raw(exp), raw(view)]);
      assert.deepEqual(
        again.decisions.map((d) => ({ ...d, decided_at: 0 })),
        r1.decisions.map((d) => ({ ...d, decided_at: 0 })),
      );
    } finally {
      e.outage.close();
    }
  });

  it('`decide`: a settle that cannot reach the store waits for it instead of holding the batch', async () => {
    const e = engine('decide');
    try {
      const events = [
        ...session('s-s'),
        action({ session_id: 's-s', action: 'export', records: 5, ts: T + 2000 }),
      ];
      const result = await e.handler.process(events.map(raw));
      e.store.up = false;
      e.outage.failed();
      clock += 2000;
      await e.handler.emit(events.map(raw), result);
      assert.equal(e.sink.decisions.length, 3);
      e.store.up = true;
      e.outage.succeeded();
      await e.outage.drain();
      const stored = await e.store.loadPolicy(['s-s']);
      assert.ok(stored[0], 'the put-off settle was made once the store answered');
    } finally {
      e.outage.close();
    }
  });

  it('after the store lost its state: a session that goes on without a login is stepped up on its next sensitive action; a new one is not', async () => {
    const e = engine('wait');
    try {
      e.store.lostAt = Date.now();
      const goesOn = [
        action({ session_id: 's-old', action: 'view', ts: T }),
        action({ session_id: 's-old', action: 'export', records: 5, ts: T + 1000 }),
      ];
      const fresh = [
        action({ session_id: 's-new', action: 'login', ts: T }),
        action({ session_id: 's-new', action: 'export', records: 5, ts: T + 1000 }),
      ];
      const r = await e.handler.handle([...goesOn, ...fresh].map(raw));
      const [view, exp, , newExp] = r.decisions;
      assert.equal(view!.decision, 'ALLOW');
      assert.equal(exp!.decision, 'STEP_UP');
      assert.equal(exp!.policy_rule, 'outage.stateLost.high');
      assert.equal(exp!.reasons[0]!.code, 'SESSION_STATE_LOST');
      assert.ok(!newExp!.reasons.some((x) => x.code === 'SESSION_STATE_LOST'));
      assert.equal(await e.metrics.lostSessions.get().then((m) => m.values[0]?.value), 1);
    } finally {
      e.outage.close();
    }
  });
});
