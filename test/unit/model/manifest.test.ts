import assert from 'node:assert/strict';
import { featureMismatch, parseManifest } from '../../../src/model/manifest';
import { evaluateBinary } from '../../../src/model/metrics';

function manifest(): Record<string, unknown> {
  const split = { sessions: 2, ...evaluateBinary([0.1, 0.9], [0, 1]) };
  return {
    name: 'risk',
    version: '1.0.0',
    feature_version: 3,
    features: ['a', 'b', 'c'],
    created_at: '2025-01-01T00:00:00.000Z',
    framework: 'tfjs-layers',
    input_shape: [null, 3],
    output: 'sigmoid risk score 0..1',
    training: { seed: 1, samples: 10, positives: 2, sessions: 4, epochs: 3, data: 'synthetic' },
    metrics: { val: split, test: split },
    thresholds: { step_up: 0.6, terminate: 0.9 },
  };
}

describe('model/manifest', () => {
  it('accepts a complete manifest', () => {
    const m = parseManifest(manifest());
    assert.equal(m.feature_version, 3);
    assert.deepEqual(m.features, ['a', 'b', 'c']);
  });

  it('names what is wrong', () => {
    assert.throws(() => parseManifest({ ...manifest(), input_shape: [null, 4] }), {
      code: 'MODEL_INVALID',
      message: /input_shape\[1\] must equal the number of features/,
    });
    assert.throws(() => parseManifest({ ...manifest(), feature_version: '3' }), {
      code: 'MODEL_INVALID',
      message: /feature_version/,
    });
    assert.throws(() => parseManifest({ ...manifest(), features: ['a', 'a', 'c'] }), /must be unique/);
    assert.throws(
      () => parseManifest({ ...manifest(), thresholds: { step_up: 0.9, terminate: 0.5 } }),
      /step_up must not exceed terminate/,
    );
    assert.throws(() => parseManifest({ ...manifest(), framework: 'onnx' }), /framework/);
  });

  it('featureMismatch: equal features give no differences', () => {
    assert.deepEqual(featureMismatch(parseManifest(manifest()), 3, ['a', 'b', 'c']), []);
  });

  it('featureMismatch lists version, missing, extra and reordered features', () => {
    const m = parseManifest(manifest());
    assert.deepEqual(featureMismatch(m, 4, ['a', 'b', 'c']), ['feature_version: model 3, code 4']);
    assert.deepEqual(featureMismatch(m, 3, ['a', 'b', 'd']), [
      'computed by the code but not in the model: d',
      'in the model but not computed by the code: c',
    ]);
    assert.deepEqual(featureMismatch(m, 3, ['a', 'c', 'b']), [
      'same features in a different order: c (model #2, code #1), b (model #1, code #2)',
    ]);
  });
});
