import assert from 'node:assert/strict';
import { JITTER, backoffStep, retryDelay } from '../../../src/caep/backoff';

describe('caep/backoff', () => {
  it('doubles from the initial delay up to the maximum', () => {
    const steps = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffStep(n, 1000, 30_000));
    assert.deepEqual(steps, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('stays finite and capped for huge attempt counts, and is 0 without a delay', () => {
    assert.equal(backoffStep(5000, 1000, 300_000), 300_000);
    assert.equal(backoffStep(1, 0, 300_000), 0);
    assert.equal(backoffStep(0, 1000, 300_000), 0);
    assert.equal(backoffStep(3, 1000, 500), 500, 'a max below the initial delay wins');
  });

  it('jitters within [step * (1 - JITTER), step]', () => {
    assert.equal(
      retryDelay(3, 1000, 60_000, () => 0),
      4000,
    );
    assert.equal(
      retryDelay(3, 1000, 60_000, () => 0.999999),
      Math.round(4000 * (1 - JITTER * 0.999999)),
    );
    assert.equal(
      retryDelay(3, 1000, 60_000, () => 0.5),
      4000 * (1 - JITTER / 2),
    );
    for (let i = 0; i < 200; i++) {
      const d = retryDelay(4, 100, 60_000);
      assert.ok(d >= 800 * (1 - JITTER) && d <= 800, String(d));
      assert.ok(Number.isInteger(d));
    }
  });

  it('never exceeds the maximum with jitter', () => {
    for (let n = 1; n < 40; n++) assert.ok(retryDelay(n, 250, 5000, Math.random) <= 5000);
  });
});
