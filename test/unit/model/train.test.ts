import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src/model/backend';
import { activeVersion } from '../../../src/model/registry';
import { splitBySession, trainModel } from '../../../src/model/train';
import {
  FEATURE_VERSION,
  FEATURES,
  makeSynthetic,
  MODEL_NAME,
  MODEL_VERSION,
  tempDir,
  trainedModel,
} from './fixtures';

describe('model/train', function () {
  this.timeout(120_000);

  before(() => initBackend());

  it('splits by session 70/15/15, never one session in two sets', () => {
    const { y, groups } = makeSynthetic(400, 7);
    const split = splitBySession(groups, y, 42);
    const sets = [split.train, split.val, split.test].map((rows) => new Set(rows.map((i) => groups[i])));
    const [train, val, test] = sets as [Set<string>, Set<string>, Set<string>];
    for (const g of val) assert.ok(!train.has(g) && !test.has(g), `${g} leaks`);
    for (const g of test) assert.ok(!train.has(g), `${g} leaks`);
    assert.equal(split.train.length + split.val.length + split.test.length, y.length);
    assert.equal(train.size + val.size + test.size, 400);
    assert.ok(Math.abs(train.size - 280) <= 2 && Math.abs(val.size - 60) <= 2, `${train.size}/${val.size}`);
    // Both classes reach the held-out sets.
    assert.ok(split.test.some((i) => y[i] === 1) && split.test.some((i) => y[i] === 0));
  });

  it('the split depends on the seed only, not on row order', () => {
    const { y, groups } = makeSynthetic(50, 3);
    const sessionsOf = (rows: number[], g: readonly string[]) => [...new Set(rows.map((i) => g[i]))].sort();
    const a = splitBySession(groups, y, 9);
    const rev = [...groups].reverse();
    const b = splitBySession(rev, [...y].reverse(), 9);
    assert.deepEqual(sessionsOf(a.test, groups), sessionsOf(b.test, rev));
    const c = splitBySession(groups, y, 10);
    assert.notDeepEqual(sessionsOf(a.test, groups), sessionsOf(c.test, groups));
  });

  it('learns a separable rule: test ROC AUC > 0.95', async () => {
    const { result } = await trainedModel();
    const { val, test } = result.metrics;
    assert.ok((test.roc_auc ?? 0) > 0.95, `test AUC ${test.roc_auc}`);
    assert.ok((val.roc_auc ?? 0) > 0.95, `val AUC ${val.roc_auc}`);
    assert.ok((test.pr_auc ?? 0) > 0.9, `test AP ${test.pr_auc}`);
    assert.deepEqual(
      test.at.map((t) => t.threshold),
      [0.5, 0.7, 0.9],
    );
  });

  it('publishes model.json, weights.bin and a manifest, and activates', async () => {
    const { modelsDir, data, result } = await trainedModel();
    assert.equal(result.dir, path.join(modelsDir, MODEL_NAME, MODEL_VERSION));
    assert.deepEqual(fs.readdirSync(result.dir).sort(), ['manifest.json', 'model.json', 'weights.bin']);
    const manifest = JSON.parse(fs.readFileSync(path.join(result.dir, 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.features, [...FEATURES]);
    assert.equal(manifest.feature_version, FEATURE_VERSION);
    assert.deepEqual(manifest.input_shape, [null, 3]);
    assert.equal(manifest.training.samples, data.y.length);
    assert.equal(manifest.training.sessions, 400);
    assert.equal(
      manifest.metrics.val.sessions + manifest.metrics.test.sessions + Math.round(400 * 0.7) > 395,
      true,
    );
    assert.equal(activeVersion(modelsDir, MODEL_NAME), MODEL_VERSION);
    // No temp folder left behind.
    assert.deepEqual(fs.readdirSync(path.join(modelsDir, MODEL_NAME)).sort(), [MODEL_VERSION, 'ACTIVE']);
  });

  it('calibrates on the validation split, folded into the saved model only when it helps', async () => {
    const { result } = await trainedModel();
    const c = result.manifest.training.calibration!;
    assert.equal(c.method, 'platt');
    assert.ok(c.a > 0 && Number.isFinite(c.b));
    assert.equal(c.applied, c.val_log_loss_after <= c.val_log_loss_before);
    // The saved model's validation log loss is the one it kept.
    const kept = c.applied ? c.val_log_loss_after : c.val_log_loss_before;
    assert.ok(
      Math.abs(result.metrics.val.log_loss! - kept) < 1e-6,
      `${result.metrics.val.log_loss} vs ${kept}`,
    );
  });

  it('refuses to overwrite a version, and leaks no tensors', async () => {
    const { modelsDir, data } = await trainedModel();
    const base = {
      ...data,
      featureNames: [...FEATURES],
      featureVersion: FEATURE_VERSION,
      name: MODEL_NAME,
      seed: 1,
      epochs: 2,
    };
    await assert.rejects(trainModel({ ...base, modelsDir, version: MODEL_VERSION }), {
      code: 'CONFIG_INVALID',
    });
    const before = tf.memory().numTensors;
    await trainModel({ ...base, modelsDir: tempDir('models'), version: '0.0.1' });
    assert.equal(tf.memory().numTensors, before);
  });

  it('rejects inconsistent inputs', async () => {
    const { x, y, groups } = makeSynthetic(20, 1);
    const base = { featureNames: ['a', 'b', 'c'], featureVersion: 1, name: 'm', version: '1', seed: 1 };
    const modelsDir = tempDir('models');
    await assert.rejects(trainModel({ ...base, modelsDir, x, y, groups: groups.slice(1) }), {
      code: 'INPUT_INVALID',
    });
    await assert.rejects(trainModel({ ...base, modelsDir, x: x.subarray(1), y, groups }), {
      code: 'INPUT_INVALID',
    });
  });
});
