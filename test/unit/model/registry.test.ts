import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  activeVersion,
  compareVersions,
  defaultModelsDir,
  listVersions,
  modelDir,
  setActive,
} from '../../../src/model/registry';
import { tempDir } from './fixtures';

function addVersion(modelsDir: string, name: string, version: string, withManifest = true): void {
  const dir = path.join(modelsDir, name, version);
  fs.mkdirSync(dir, { recursive: true });
  if (withManifest) fs.writeFileSync(path.join(dir, 'manifest.json'), '{}');
}

describe('model/registry', () => {
  it('sorts versions semver-style', () => {
    const sorted = ['1.10.0', 'v2', '1.2.0', '1.9.0', '1.9.0-rc.1', '1.9.0-rc.10', '1.9.0-rc.2'].sort(
      compareVersions,
    );
    assert.deepEqual(sorted, ['1.2.0', '1.9.0-rc.1', '1.9.0-rc.2', '1.9.0-rc.10', '1.9.0', '1.10.0', 'v2']);
  });

  it('lists only complete versions (with a manifest), lowest first', () => {
    const dir = tempDir('reg');
    addVersion(dir, 'risk', '1.10.0');
    addVersion(dir, 'risk', '1.2.0');
    addVersion(dir, 'risk', '2.0.0', false);
    addVersion(dir, 'risk', '.1.3.0.123.tmp');
    assert.deepEqual(listVersions(dir, 'risk'), ['1.2.0', '1.10.0']);
    assert.deepEqual(listVersions(dir, 'other'), []);
  });

  it('active version: ACTIVE when present, else the highest', () => {
    const dir = tempDir('reg');
    addVersion(dir, 'risk', '1.2.0');
    addVersion(dir, 'risk', '1.10.0');
    assert.equal(activeVersion(dir, 'risk'), '1.10.0');
    setActive(dir, 'risk', '1.2.0');
    assert.equal(fs.readFileSync(path.join(dir, 'risk', 'ACTIVE'), 'utf8'), '1.2.0\n');
    assert.equal(activeVersion(dir, 'risk'), '1.2.0');
    // Only ACTIVE and the two versions: the temp file was renamed away.
    assert.deepEqual(fs.readdirSync(path.join(dir, 'risk')).sort(), ['1.10.0', '1.2.0', 'ACTIVE']);
  });

  it('refuses unknown versions and a dangling ACTIVE', () => {
    const dir = tempDir('reg');
    assert.throws(() => activeVersion(dir, 'risk'), { code: 'MODEL_NOT_FOUND' });
    addVersion(dir, 'risk', '1.0.0');
    assert.throws(() => setActive(dir, 'risk', '9.9.9'), {
      code: 'MODEL_NOT_FOUND',
      message: /have: 1\.0\.0/,
    });
    fs.writeFileSync(path.join(dir, 'risk', 'ACTIVE'), '3.0.0\n');
    assert.throws(() => activeVersion(dir, 'risk'), { code: 'MODEL_NOT_FOUND', message: /3\.0\.0/ });
  });

  it('refuses names that would leave modelsDir', () => {
    assert.throws(() => modelDir('/m', '../etc', '1'), { code: 'CONFIG_INVALID' });
    assert.throws(() => modelDir('/m', 'risk', '1/../../x'), { code: 'CONFIG_INVALID' });
    assert.equal(modelDir('/m', 'risk', '1.0.0'), path.join('/m', 'risk', '1.0.0'));
  });

  it('finds the package models/ folder from src/ and from dist/src/', () => {
    const root = path.resolve(__dirname, '../../..');
    assert.equal(defaultModelsDir(), path.join(root, 'models'));
    assert.equal(defaultModelsDir(path.join(root, 'dist', 'src', 'model')), path.join(root, 'models'));
  });
});
