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
    const first = scorer('1.0.0');
    const live = new LiveModel({
      initial: first,
      activeVersion: () => pointer,
      load: async (v) => {
        loaded.push(v);
        return scorer(v);
      },
      intervalMs: 0,
      retireAfterMs: 50,
      log: silentLogger(),
      metrics,
    });
    assert.deepEqual(await live.check(), { version: '1.0.0', swapped: false });
    pointer = '1.1.0';
    const [a, b] = await Promise.all([live.check(), live.check()]);
    assert.deepEqual(a, { version: '1.1.0', swapped: true, previous: '1.0.0' });
    assert.equal(b, a, 'concurrent checks share one load');
    assert.deepEqual(loaded, ['1.1.0']);
    assert.equal(live.current.version, '1.1.0');
    assert.equal((await metrics.modelSwaps.get()).values[0]!.value, 1);
    const info = (await metrics.modelInfo.get()).values;
    assert.deepEqual(
      info.map((v) => v.labels.version),
      ['1.1.0'],
    );
    assert.equal(first.disposed, false, 'kept while batches begun with it may still run');
    await sleep(80);
    assert.equal(first.disposed, true);
    await live.close();
    assert.equal((live.current as Scorer & { disposed: boolean }).disposed, true);
  });

  it('keeps serving when the promoted version cannot be loaded, and counts it', async () => {
    const metrics = createMetrics();
    const live = new LiveModel({
      initial: scorer('1.0.0'),
      activeVersion: () => '2.0.0',
      load: async () => {
        throw new Error('trained on different features');
      },
      intervalMs: 0,
      log: silentLogger(),
      metrics,
    });
    await assert.rejects(live.check(), /different features/);
    assert.equal(live.current.version, '1.0.0');
    assert.equal((await metrics.modelReloadErrors.get()).values[0]!.value, 1);
    await live.close();
  });

  it('reads the pointer on its own every intervalMs once started', async () => {
    let pointer = '1.0.0';
    const live = new LiveModel({
      initial: scorer('1.0.0'),
      activeVersion: () => pointer,
      load: async (v) => scorer(v),
      intervalMs: 20,
      log: silentLogger(),
    });
    live.start();
    pointer = '1.2.0';
    for (let i = 0; i < 50 && live.current.version !== '1.2.0'; i++) await sleep(10);
    assert.equal(live.current.version, '1.2.0');
    await live.close();
  });
});
