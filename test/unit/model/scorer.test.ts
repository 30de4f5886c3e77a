import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadScorer, type Scorer } from '../../../src/model/scorer';
import { FEATURE_VERSION, FEATURES, MODEL_NAME, MODEL_VERSION, tempDir, trainedModel } from './fixtures';

/** A copy of the trained model's registry, safe to break. */
async function copyOfTrained(): Promise<string> {
  const { modelsDir } = await trainedModel();
  const copy = tempDir('models');
  fs.cpSync(modelsDir, copy, { recursive: true });
  return copy;
}

describe('model/scorer', function () {
  this.timeout(120_000);
  let scorer: Scorer;
  const expected = { expectedFeatureVersion: FEATURE_VERSION, expectedFeatureNames: [...FEATURES] };

  before(async () => {
    const { modelsDir } = await trainedModel();
    scorer = await loadScorer({ modelsDir, name: MODEL_NAME, ...expected });
  });
  after(() => scorer?.dispose());

  it('loads the active version and describes itself', () => {
    assert.equal(scorer.version, MODEL_VERSION);
    assert.equal(scorer.featureVersion, FEATURE_VERSION);
    assert.deepEqual(scorer.featureNames, FEATURES);
    assert.equal(scorer.backend, tf.getBackend());
  });

  it('scores a batch in row order', async () => {
    const x = Float32Array.from([0.9, 0.5, 0.1, 0.1, 0.5, 0.1, 0.1, 0.5, 0.95]);
    const s = await scorer.score(x, 3);
    assert.equal(s.length, 3);
    assert.ok((s[0] as number) > 0.7 && (s[2] as number) > 0.7 && (s[1] as number) < 0.3, String(s));
    assert.equal((await scorer.score(new Float32Array(0), 0)).length, 0);
  });

  it('one row scores the same alone as in a batch', async () => {
    const x = Float32Array.from([0.2, 0.3, 0.4, 0.6, 0.1, 0.2]);
    const batch = await scorer.score(x, 2);
    const alone = await scorer.score(x.slice(3), 1);
    assert.ok(Math.abs((batch[1] as number) - (alone[0] as number)) < 1e-6);
  });

  it('occlusion contributions: x0 drives a positive row, matching score differences', async () => {
    const row = Float32Array.from([0.9, 0.5, 0.1]);
    const c = await scorer.contributions(Float32Array.from([...row, 0.1, 0.5, 0.95]), 2);
    assert.equal(c.length, 6);
    assert.ok((c[0] as number) > 0.3, `x0 contribution ${c[0]}`);
    assert.ok((c[5] as number) > 0.3, `x2 contribution in row 2 ${c[5]}`);
    assert.ok(Math.abs(c[1] as number) < Math.abs(c[0] as number), 'noise feature matters less');
    // In logit units: the difference of the two scores' logits, on a row whose score is not
    // saturated (at a score of 1.0 the logit is infinite in float32, which is why logits are used).
    assert.ok(Number.isFinite(c[0] as number));
    const logit = (p: number) => Math.log(p / (1 - p));
    for (let x0 = 0.45; x0 <= 0.65; x0 += 0.01) {
      const probe = Float32Array.from([x0, 0.5, 0.1]);
      const [full, occluded] = await scorer.score(Float32Array.from([...probe, 0, 0.5, 0.1]), 2);
      if ((full as number) < 0.05 || (full as number) > 0.95 || (occluded as number) < 1e-6) continue;
      const [c0] = await scorer.contributions(probe, 1);
      const expected = logit(full as number) - logit(occluded as number);
      assert.ok(
        Math.abs((c0 as number) - expected) < 1e-2 * Math.max(1, Math.abs(expected)),
        `${c0} vs ${expected}`,
      );
      return;
    }
    assert.fail('no unsaturated probe row found');
  });

  it('occludes groups of features together, one value per group', async () => {
    const x = Float32Array.from([0.9, 0.5, 0.95]);
    const grouped = await scorer.contributions(x, 1, [[0, 2], [1]]);
    const single = await scorer.contributions(x, 1);
    assert.equal(grouped.length, 2);
    assert.equal(single.length, 3);
    // Zeroing both drivers drops the logit at least as much as zeroing either alone.
    assert.ok((grouped[0] as number) >= Math.max(single[0] as number, single[2] as number) - 1e-4);
    assert.ok(Math.abs((grouped[1] as number) - (single[1] as number)) < 1e-4);
  });

  it('leaks no tensors', async () => {
    const x = new Float32Array(3 * 100).map((_, i) => (i % 7) / 7);
    await scorer.score(x, 100);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      await scorer.score(x, 100);
      await scorer.contributions(x, 100);
    }
    assert.equal(tf.memory().numTensors, before);
  });

  it('rejects malformed input', async () => {
    await assert.rejects(scorer.score(new Float32Array(4), 1), { code: 'INPUT_INVALID' });
    await assert.rejects(scorer.score(Float32Array.from([0.1, NaN, 0.2]), 1), {
      code: 'INPUT_INVALID',
      message: /row 0 feature x1 is NaN/,
    });
  });

  it('refuses a model trained on another feature version', async () => {
    const { modelsDir } = await trainedModel();
    await assert.rejects(
      loadScorer({
        modelsDir,
        name: MODEL_NAME,
        expectedFeatureVersion: 2,
        expectedFeatureNames: [...FEATURES],
      }),
      { code: 'FEATURE_VERSION_MISMATCH', message: /feature_version: model 1, code 2/ },
    );
  });

  it('refuses a model whose features are in another order', async () => {
    const { modelsDir } = await trainedModel();
    await assert.rejects(
      loadScorer({ modelsDir, name: MODEL_NAME, ...expected, expectedFeatureNames: ['x0', 'x2', 'x1'] }),
      { code: 'FEATURE_VERSION_MISMATCH', message: /different order: x2 \(model #2, code #1\)/ },
    );
  });

  it('MODEL_NOT_FOUND for a missing model or version', async () => {
    const { modelsDir } = await trainedModel();
    await assert.rejects(loadScorer({ modelsDir, name: 'nope', ...expected }), { code: 'MODEL_NOT_FOUND' });
    await assert.rejects(loadScorer({ modelsDir, name: MODEL_NAME, version: '9.9.9', ...expected }), {
      code: 'MODEL_NOT_FOUND',
    });
  });

  it('MODEL_INVALID for broken weights or a model of the wrong input width', async () => {
    const broken = await copyOfTrained();
    const dir = path.join(broken, MODEL_NAME, MODEL_VERSION);
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(10));
    await assert.rejects(loadScorer({ modelsDir: broken, name: MODEL_NAME, ...expected }), {
      code: 'MODEL_INVALID',
    });

    // A manifest promising 4 features in front of a 3-input model.
    const wide = await copyOfTrained();
    const manifestPath = path.join(wide, MODEL_NAME, MODEL_VERSION, 'manifest.json');
    const m = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    fs.writeFileSync(
      manifestPath,
      JSON.stringify({ ...m, features: [...FEATURES, 'x3'], input_shape: [null, 4] }),
    );
    const names = [...FEATURES, 'x3'];
    await assert.rejects(
      loadScorer({ modelsDir: wide, name: MODEL_NAME, ...expected, expectedFeatureNames: names }),
      {
        code: 'MODEL_INVALID',
        message: /\[\[null,3\]\]/,
      },
    );
  });
});
