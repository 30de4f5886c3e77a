import assert from 'node:assert/strict';
import {
  atThreshold,
  averagePrecision,
  calibrationError,
  evaluateBinary,
  fitPlatt,
  logLoss,
  rocAuc,
} from '../../../src/model/metrics';
import { seededRandom } from '../../../src/model/train';

const close = (actual: number | null, expected: number, eps = 1e-9) =>
  assert.ok(actual !== null && Math.abs(actual - expected) < eps, `${actual} is not ${expected}`);

/** Brute force over all positive/negative pairs, ties counting one half. */
function pairwiseAuc(s: number[], y: number[]): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < s.length; i++) {
    for (let j = 0; j < s.length; j++) {
      if (y[i] !== 1 || y[j] !== 0) continue;
      pairs++;
      wins += (s[i] as number) > (s[j] as number) ? 1 : s[i] === s[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

describe('model/metrics', () => {
  // Sorted by score: 0.8 (+), 0.4 (-), 0.35 (+), 0.1 (-).
  const s = [0.1, 0.4, 0.35, 0.8];
  const y = [0, 0, 1, 1];

  it('ROC AUC by hand: 3 of 4 positive/negative pairs ordered right', () => {
    close(rocAuc(s, y), 0.75);
    close(rocAuc([0.9, 0.1], [1, 0]), 1);
    close(rocAuc([0.1, 0.9], [1, 0]), 0);
  });

  it('ROC AUC counts ties as one half', () => {
    close(rocAuc([0.5, 0.5], [1, 0]), 0.5);
    close(rocAuc([0.5, 0.5, 0.2], [1, 0, 0]), 0.75);
  });

  it('ROC AUC matches the pairwise definition on random data with ties', () => {
    const rand = seededRandom(1);
    const scores = Array.from({ length: 300 }, () => Math.round(rand() * 20) / 20);
    const labels = scores.map((v) => (rand() < v ? 1 : 0));
    close(rocAuc(scores, labels), pairwiseAuc(scores, labels), 1e-12);
  });

  it('average precision by hand', () => {
    // Recall 0.5 at precision 1, then recall 1 at precision 2/3.
    close(averagePrecision(s, y), 0.5 * 1 + 0.5 * (2 / 3));
    // One tie group holding both: recall 1 at precision 1/2.
    close(averagePrecision([0.5, 0.5], [1, 0]), 0.5);
    close(averagePrecision([0.9, 0.8, 0.1], [1, 1, 0]), 1);
  });

  it('log loss by hand, clipping certainty', () => {
    close(logLoss([0.9, 0.2], [1, 0]), -(Math.log(0.9) + Math.log(0.8)) / 2);
    close(logLoss([1], [0]), -Math.log(1e-7), 1e-6);
    assert.ok(Number.isFinite(logLoss([0, 1], [1, 0]) as number));
  });

  it('precision, recall and FPR at a threshold (score >= t is flagged)', () => {
    const scores = [0.95, 0.75, 0.55, 0.3];
    const labels = [1, 0, 1, 0];
    assert.deepEqual(atThreshold(scores, labels, 0.5), {
      threshold: 0.5,
      tp: 2,
      fp: 1,
      tn: 1,
      fn: 0,
      precision: 2 / 3,
      recall: 1,
      fpr: 0.5,
    });
    assert.deepEqual(atThreshold(scores, labels, 0.7), {
      threshold: 0.7,
      tp: 1,
      fp: 1,
      tn: 1,
      fn: 1,
      precision: 0.5,
      recall: 0.5,
      fpr: 0.5,
    });
    assert.deepEqual(atThreshold(scores, labels, 0.9), {
      threshold: 0.9,
      tp: 1,
      fp: 0,
      tn: 2,
      fn: 1,
      precision: 1,
      recall: 0.5,
      fpr: 0,
    });
    assert.equal(atThreshold(scores, labels, 0.99).precision, null);
    assert.equal(atThreshold([0.55], [1], 0.55).tp, 1);
  });

  it('undefined metrics are null, not NaN', () => {
    assert.equal(rocAuc([0.2, 0.3], [1, 1]), null);
    assert.equal(rocAuc([0.2, 0.3], [0, 0]), null);
    assert.equal(averagePrecision([0.2, 0.3], [0, 0]), null);
    assert.equal(logLoss([], []), null);
    const m = evaluateBinary([0.2], [0]);
    assert.equal(m.at[0]?.recall, null);
    assert.doesNotThrow(() => JSON.stringify(m));
  });

  it('evaluateBinary reports 0.5 / 0.7 / 0.9 by default', () => {
    const m = evaluateBinary(s, y);
    assert.equal(m.rows, 4);
    assert.equal(m.positives, 2);
    assert.deepEqual(
      m.at.map((t) => t.threshold),
      [0.5, 0.7, 0.9],
    );
  });

  it('rejects scores and labels of different lengths', () => {
    assert.throws(() => rocAuc([0.1], [1, 0]), /differ in length/);
  });

  describe('calibration', () => {
    /** Labels drawn with P(y = 1) = sigmoid(trueA * z + trueB) for logits z spread over [-6, 6]. */
    function sample(trueA: number, trueB: number, n = 20_000) {
      const rand = seededRandom(7);
      const z = new Float64Array(n);
      const y = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        z[i] = -6 + 12 * rand();
        y[i] = rand() < 1 / (1 + Math.exp(-(trueA * z[i]! + trueB))) ? 1 : 0;
      }
      return { z, y };
    }

    it('Platt scaling recovers the slope and offset that generated the labels', () => {
      const { z, y } = sample(0.5, -1.5);
      const { a, b } = fitPlatt(z, y);
      close(a, 0.5, 0.05);
      close(b, -1.5, 0.1);
    });

    it('calibrated scores have a smaller expected calibration error than overconfident ones', () => {
      const { z, y } = sample(0.5, -1.5);
      const raw = Array.from(z, (v) => 1 / (1 + Math.exp(-v)));
      const { a, b } = fitPlatt(z, y);
      const fixed = Array.from(z, (v) => 1 / (1 + Math.exp(-(a * v + b))));
      const before = calibrationError(raw, y)!;
      const after = calibrationError(fixed, y)!;
      assert.ok(before > 0.1, `raw ECE ${before}`);
      assert.ok(after < 0.02, `calibrated ECE ${after}`);
      assert.ok(logLoss(fixed, y)! < logLoss(raw, y)!);
    });

    it('ECE: perfect bins give 0; one class only leaves Platt as the identity', () => {
      close(calibrationError([0.05, 0.05, 0.95, 0.95], [0, 0, 1, 1]), 0.05);
      assert.equal(calibrationError([], []), null);
      assert.deepEqual(fitPlatt([1, 2, 3], [0, 0, 0]), { a: 1, b: 0 });
    });
  });
});
