import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { envName, settingPaths } from '../../../src/config/load';

const ROOT = join(__dirname, '..', '..', '..');

/**
 * The settings table of README.md's "Configuration": one row per setting, or per pair written
 * `a.b / a.c` (or `a.b / c`, the section left out) with its variables `X / _Y` alongside (the
 * second written as the end that differs).
 */
function readmeSettings(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Configuration'));
  assert.ok(section, 'README.md has no "## Configuration" section');
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    if (cells[0] === 'setting' || /^-+$/.test(cells[0] ?? '')) continue;
    const names = cells[0]!.split('/').map((n) => n.trim());
    const sectionName = names[0]!.split('.')[0]!;
    const envs = (cells[1] ?? '').split('/').map((e) => e.trim());
    names.forEach((name, i) => {
      const path = name.includes('.') ? name : `${sectionName}.${name}`;
      rows.set(path, envs[i] ?? '');
    });
  }
  return rows;
}

describe('README settings table', () => {
  const documented = readmeSettings();

  it('lists every setting with its environment variable', () => {
    const missing: string[] = [];
    const wrongEnv: string[] = [];
    for (const path of settingPaths()) {
      const name = path.join('.');
      const env = documented.get(name);
      if (env === undefined) missing.push(name);
      // `RISK_STREAM_HTTP_TLS_CERT / _KEY`: a second variable is written as its distinct end.
      else if (env.startsWith('_') ? !envName(path).endsWith(env) : env !== envName(path))
        wrongEnv.push(`${name}: README ${env}, engine ${envName(path)}`);
    }
    assert.deepEqual(missing, [], `settings missing from the README table: ${missing.join(', ')}`);
    assert.deepEqual(wrongEnv, []);
  });

  it('lists no setting the engine does not have', () => {
    const known = new Set(settingPaths().map((p) => p.join('.')));
    const unknown = [...documented.keys()].filter((k) => !known.has(k));
    assert.deepEqual(unknown, [], `README table names settings that do not exist: ${unknown.join(', ')}`);
  });
});
