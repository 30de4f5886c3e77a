import assert from 'node:assert/strict';
import { LiveModel } from '../../../src/model/live';
import type { Scorer } from '../../../src/model/scorer';
import { createMetrics } from '../../../src/metrics/metrics';
import { silentLogger } from '../../../src/log';

/** A stand-in scorer that only knows its version and whether it was freed (no tensors involved). */
function scorer(version: string): Scorer & { disposed: boolean } {
  const s = {
    name: 'm',
    version,
    featureVersion: 1,
    featureNames: [],
    backend: 'cpu',
    manifest: {},
    disposed: false,
    score: async () => new Float32Array(0),
    contributions: async () => new Float32Array(0),
    dispose() {
      s.disposed = true;
    },
  };
  return s as unknown as Scorer & { disposed: boolean };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('model/live LiveModel', () => {
  it('swaps when the pointer moves, updates the metrics, frees the old model after retireAfterMs', async () => {
    const metrics = createMetrics();
    let pointer = '1.0.0';
    const loaded: string[] = [];
    const shown: string[] = [];
    const first = scorer('1.0.0');
    const live = new LiveModel({
      initial: first,
      slot: 'active',
      wantedVersion: () => pointer,
      load: async (v) => {
        loaded.push(v);
        return scorer(v);
      },
      intervalMs: 0,
      retireAfterMs: 50,
      log: silentLogger(),
      metrics,
      onSwap: (next) => shown.push(next!.version),
    });
    assert.deepEqual(await live.check(), { version: '1.0.0', swapped: false });
    pointer = '1.1.0';
    const [a, b] = await Promise.all([live.check(), live.check()]);
    assert.deepEqual(a, { version: '1.1.0', swapped: true, previous: '1.0.0' });
    assert.equal(b, a, 'concurrent checks share one load');
    assert.deepEqual(loaded, ['1.1.0']);
    assert.equal(live.required().version, '1.1.0');
    assert.equal((await metrics.modelSwaps.get()).values[0]!.value, 1);
    assert.deepEqual(shown, ['1.1.0']);
    assert.equal(first.disposed, false, 'kept while batches begun with it may still run');
    await sleep(80);
    assert.equal(first.disposed, true);
    await live.close();
    assert.equal((live.required() as Scorer & { disposed: boolean }).disposed, true);
  });

  it('keeps serving when the promoted version cannot be loaded, and counts it', async () => {
    const metrics = createMetrics();
    const live = new LiveModel({
      initial: scorer('1.0.0'),
      slot: 'active',
      wantedVersion: () => '2.0.0',
      load: async () => {
        throw new Error('trained on different features');
      },
      intervalMs: 0,
      log: silentLogger(),
      metrics,
    });
    await assert.rejects(live.check(), /different features/);
    assert.equal(live.required().version, '1.0.0');
    assert.equal((await metrics.modelReloadErrors.get()).values[0]!.value, 1);
    await live.close();
  });

  it('reads the pointer on its own every intervalMs once started', async () => {
    let pointer = '1.0.0';
    const live = new LiveModel({
      initial: scorer('1.0.0'),
      slot: 'active',
      wantedVersion: () => pointer,
      load: async (v) => scorer(v),
      intervalMs: 20,
      log: silentLogger(),
    });
    live.start();
    pointer = '1.2.0';
    for (let i = 0; i < 50 && live.required().version !== '1.2.0'; i++) await sleep(10);
    assert.equal(live.required().version, '1.2.0');
    await live.close();
  });

  it('a shadow slot starts empty, fills when SHADOW names a version, empties again', async () => {
    const metrics = createMetrics();
    let pointer: string | null = null;
    const shown: (string | null)[] = [];
    const live = new LiveModel({
      slot: 'shadow',
      initial: null,
      wantedVersion: () => pointer,
      load: async (v) => scorer(v),
      intervalMs: 0,
      retireAfterMs: 10,
      log: silentLogger(),
      metrics,
      onSwap: (next) => shown.push(next?.version ?? null),
    });
    assert.deepEqual(await live.check(), { version: null, swapped: false });
    assert.equal(live.current, null);
    assert.throws(() => live.required(), /no shadow model/);
    pointer = '2.0.0-rc1';
    assert.deepEqual(await live.check(), { version: '2.0.0-rc1', swapped: true, previous: null });
    const candidate = live.required() as Scorer & { disposed: boolean };
    pointer = null;
    assert.deepEqual(await live.check(), { version: null, swapped: true, previous: '2.0.0-rc1' });
    assert.equal(live.current, null);
    assert.deepEqual(shown, ['2.0.0-rc1', null]);
    const swaps = (await metrics.modelSwaps.get()).values;
    assert.deepEqual(
      swaps.map((v) => [v.labels.slot, v.value]),
      [['shadow', 2]],
    );
    await sleep(30);
    assert.equal(candidate.disposed, true);
    await live.close();
  });
});
