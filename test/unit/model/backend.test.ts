import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { currentBackend, initBackend } from '../../../src/model/backend';
import { tempDir } from './fixtures';

function resolvable(id: string): boolean {
  try {
    require.resolve(id);
    return true;
  } catch {
    return false;
  }
}

const ROOT = path.resolve(__dirname, '../../..');

describe('model/backend', () => {
  it('falls through from tfjs-node to wasm here, and says why', async function () {
    const info = await initBackend();
    assert.equal(tf.getBackend(), info.name);
    if (resolvable('@tensorflow/tfjs-node')) {
      this.skip(); // tfjs-node is installed on this machine; the fallback is not exercised
    }
    assert.equal(info.name, 'wasm');
    assert.equal(info.tried[0]?.name, 'tensorflow');
    assert.match(info.tried[0]?.error ?? '', /tfjs-node/);
  });

  it('is idempotent and reports the choice', async () => {
    const first = await initBackend();
    const second = await initBackend('cpu');
    assert.equal(second, first);
    assert.equal(currentBackend(), first);
  });

  it('runs a matMul on the chosen backend', async () => {
    await initBackend();
    const out = tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([3, 2])));
    assert.deepEqual(Array.from(await out.data()), [3, 3, 3, 3]);
    out.dispose();
  });

  it('falls back to cpu without the wasm binaries, silently', () => {
    // A fresh process: the backend is process-wide state.
    const script = `
      require('./src/model/backend')
        .selectBackend(['wasm', 'cpu'], { wasmDir: ${JSON.stringify(tempDir('nowasm'))} })
        .then((r) => process.stdout.write(JSON.stringify(r)));`;
    const out = execFileSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const info = JSON.parse(out) as { name: string; tried: { name: string; error: string }[] };
    assert.equal(info.name, 'cpu');
    assert.equal(info.tried[0]?.name, 'wasm');
    assert.match(info.tried[0]?.error ?? '', /wasm binaries not found/);
  });

  it('keeps the cpu backend banner off stderr', () => {
    const script = `
      const tf = require('@tensorflow/tfjs');
      require('./src/model/backend').selectBackend(['cpu'])
        .then(() => tf.square(tf.tensor1d([1, 2])).data())
        .then((d) => process.stdout.write(String(d)));`;
    const result = spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(result.stdout, '1,4');
    assert.doesNotMatch(result.stderr, /looks like you are running TensorFlow\.js in Node/);
  });
});
