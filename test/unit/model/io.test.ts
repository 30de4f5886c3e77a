import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src/model/backend';
import { fileSaveHandler, loadArtifacts } from '../../../src/model/io';
import { buildModel } from '../../../src/model/train';
import { tempDir } from './fixtures';

async function predict(model: tf.LayersModel, x: number[][]): Promise<number[]> {
  const out = tf.tidy(() => model.predict(tf.tensor2d(x)) as tf.Tensor);
  const values = Array.from(await out.data());
  out.dispose();
  return values;
}

describe('model/io', () => {
  const rows = [
    [0, 0, 0, 0.1],
    [0.9, 0.2, 0.5, 1],
    [0.3, 0.7, 0.05, 0.4],
  ];

  before(() => initBackend());

  it('round-trips a Layers model with identical predictions', async () => {
    const dir = tempDir('io');
    const model = buildModel(4, [8, 4], 3);
    const before = await predict(model, rows);
    await model.save(fileSaveHandler(dir));
    model.dispose();

    const loaded = await tf.loadLayersModel(tf.io.fromMemory(await loadArtifacts(dir)));
    assert.deepEqual(await predict(loaded, rows), before);
    loaded.dispose();
  });

  it('writes the standard TF.js Layers files', async () => {
    const dir = tempDir('io');
    const model = buildModel(4, [8], 3);
    await model.save(fileSaveHandler(dir));
    model.dispose();
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(json.format, 'layers-model');
    assert.match(String(json.generatedBy), /^TensorFlow\.js tfjs-layers v4\./);
    assert.equal(json.convertedBy, null);
    assert.equal((json.modelTopology as { class_name: string }).class_name, 'Sequential');
    const manifest = json.weightsManifest as {
      paths: string[];
      weights: { name: string; shape: number[] }[];
    }[];
    assert.deepEqual(manifest[0]?.paths, ['weights.bin']);
    // Two dense layers: kernel + bias each, float32.
    const floats = manifest[0]?.weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0) ?? 0;
    assert.equal(floats, 4 * 8 + 8 + 8 * 1 + 1);
    assert.equal(fs.statSync(path.join(dir, 'weights.bin')).size, floats * 4);
  });

  it('says MODEL_NOT_FOUND without model.json and MODEL_INVALID for broken files', async () => {
    const empty = tempDir('io');
    await assert.rejects(loadArtifacts(empty), { code: 'MODEL_NOT_FOUND' });

    const dir = tempDir('io');
    const model = buildModel(4, [8], 3);
    await model.save(fileSaveHandler(dir));
    model.dispose();
    fs.truncateSync(path.join(dir, 'weights.bin'), 12);
    await assert.rejects(loadArtifacts(dir), { code: 'MODEL_INVALID', message: /bytes but the manifest/ });
    fs.rmSync(path.join(dir, 'weights.bin'));
    await assert.rejects(loadArtifacts(dir), { code: 'MODEL_INVALID', message: /cannot read weight file/ });
    fs.writeFileSync(path.join(dir, 'model.json'), '{"modelTopology":');
    await assert.rejects(loadArtifacts(dir), { code: 'MODEL_INVALID', message: /not JSON/ });
  });
});
