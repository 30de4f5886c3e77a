import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RiskStreamError } from '../../../src/errors';
import { loadSimConfig } from '../../../src/sim/config';
import { DEFAULT_MIX } from '../../../src/sim/scenarios';

const dir = mkdtempSync(join(tmpdir(), 'rs-sim-'));
const file = (name: string, content: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};

describe('sim/config loadSimConfig', () => {
  it('reads every field; the span as a duration', () => {
    assert.deepEqual(
      loadSimConfig(
        file('ok.json', {
          sessions: 10,
          seed: 3,
          attackRate: 0.2,
          start: '2026-01-05T08:00:00Z',
          span: '6h',
          mix: { replay_foreign: 1 },
        }),
      ),
      {
        sessions: 10,
        seed: 3,
        attackRate: 0.2,
        start: '2026-01-05T08:00:00Z',
        spanMs: 6 * 3_600_000,
        mix: { replay_foreign: 1 },
      },
    );
    assert.deepEqual(loadSimConfig(file('empty.json', {})), {});
  });

  it('the shipped example uses the default mix', () => {
    const shipped = loadSimConfig(join(__dirname, '../../../scripts/simulation.json'));
    assert.deepEqual(shipped.mix, DEFAULT_MIX);
  });

  const bad: [string, unknown, RegExp][] = [
    [
      'unknown scenario',
      { mix: { replay_martian: 1 } },
      /mix: unknown scenario "replay_martian"; known: office_worker/,
    ],
    ['bad span', { span: 'soon' }, /span: expected a duration like 30m or 6h/],
    ['attack rate above 1', { attackRate: 2 }, /attackRate: /],
    ['unknown field', { sesions: 10 }, /\(top level\)|sesions/],
    ['not JSON', '{', /simulation file .*bad-not-JSON\.json: /],
  ];
  for (const [name, content, message] of bad) {
    it(`fails naming the file and the field: ${name}`, () => {
      const path = file(`bad-${name.replace(/ /g, '-')}.json`, content);
      assert.throws(
        () => loadSimConfig(path),
        (err: unknown) =>
          err instanceof RiskStreamError &&
          err.code === 'CONFIG_INVALID' &&
          message.test(err.message) &&
          err.message.includes(path),
      );
    });
  }
});
