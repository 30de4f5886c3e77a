import assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { RiskStreamError } from '../../../src/errors';
import { importModel } from '../../../src/model/import';
import { fileSaveHandler } from '../../../src/model/io';
import { listVersions } from '../../../src/model/registry';
import { loadScorer } from '../../../src/model/scorer';
import {
  FEATURES,
  FEATURE_VERSION,
  MODEL_NAME,
  MODEL_VERSION,
  makeSynthetic,
  tempDir,
  trainedModel,
} from './fixtures';

describe('model/import importModel (a TF.js model trained elsewhere)', function () {
  this.timeout(60_000);

  it('registers it with a complete manifest, measured on a session split; it scores as the original', async () => {
    const { modelsDir, data } = await trainedModel();
    const from = path.join(modelsDir, MODEL_NAME, MODEL_VERSION); // stands in for tensorflowjs_converter output
    const registry = tempDir('import');
    const held = makeSynthetic(120, 99);
    const { manifest } = await importModel({
      from,
      modelsDir: registry,
      name: MODEL_NAME,
      version: '2.0.0',
      featureVersion: FEATURE_VERSION,
      featureNames: [...FEATURES],
      ...held,
      seed: 5,
      data: 'synthetic held-out rows',
      activate: true,
    });
    assert.deepEqual(listVersions(registry, MODEL_NAME), ['2.0.0']);
    assert.equal(manifest.version, '2.0.0');
    assert.deepEqual(manifest.features, [...FEATURES]);
    assert.match(
      manifest.training.data,
      /^imported from .*; measured on synthetic held-out rows \(\d+ rows, \d+ positive\)$/,
    );
    assert.ok(manifest.metrics.test.rows > 0 && manifest.metrics.val.rows > 0);
    assert.ok(manifest.metrics.test.roc_auc! > 0.9, String(manifest.metrics.test.roc_auc));

    const expected = { expectedFeatureVersion: FEATURE_VERSION, expectedFeatureNames: [...FEATURES] };
    const original = await loadScorer({ modelsDir, name: MODEL_NAME, ...expected });
    const imported = await loadScorer({ modelsDir: registry, name: MODEL_NAME, ...expected });
    try {
      const rows = 50;
      assert.deepEqual(
        await imported.score(data.x.subarray(0, rows * FEATURES.length), rows),
        await original.score(data.x.subarray(0, rows * FEATURES.length), rows),
      );
    } finally {
      original.dispose();
      imported.dispose();
    }
  });

  it('refuses a model whose input is not the engine feature vector, naming both shapes', async () => {
    const dir = tempDir('wrong');
    const model = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [5], units: 1, activation: 'sigmoid' })],
    });
    await model.save(fileSaveHandler(dir));
    model.dispose();
    const held = makeSynthetic(40, 3);
    await assert.rejects(
      importModel({
        from: dir,
        modelsDir: tempDir('import-wrong'),
        name: MODEL_NAME,
        version: '3.0.0',
        featureVersion: FEATURE_VERSION,
        featureNames: [...FEATURES],
        ...held,
        seed: 1,
        data: 'x',
      }),
      (err: unknown) =>
        err instanceof RiskStreamError &&
        err.code === 'MODEL_INVALID' &&
        /input shape \[null,5\]; the engine computes \[null, 3\]/.test(err.message),
    );
  });
});
