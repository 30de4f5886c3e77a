import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulate } from '../../../src/sim/generate';
import { writeJsonl, writeLabels } from '../../../src/sim/write';

describe('sim/write', () => {
  it('writes events and labels as JSON Lines, one per line, in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rs-sim-'));
    const sim = simulate({ seed: 9, sessions: 300, attackRate: 0.2 });
    await writeJsonl(join(dir, 'events.jsonl'), sim.events);
    await writeLabels(join(dir, 'labels.jsonl'), sim.labels);
    const lines = readFileSync(join(dir, 'events.jsonl'), 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'ends with a newline');
    assert.deepEqual(
      lines.map((l) => JSON.parse(l)),
      sim.events,
    );
    const labels = readFileSync(join(dir, 'labels.jsonl'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(labels, sim.labels);
    assert.ok(lines[0]!.startsWith('{"event_id":'), 'contract field order');
  });

  it('accepts async iterables and writes an empty file for no rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rs-sim-'));
    const sim = simulate({ seed: 1, sessions: 5 });
    async function* rows() {
      yield* sim.events;
    }
    await writeJsonl(join(dir, 'a.jsonl'), rows());
    assert.equal(readFileSync(join(dir, 'a.jsonl'), 'utf8').trimEnd().split('\n').length, sim.events.length);
    await writeJsonl(join(dir, 'empty.jsonl'), []);
    assert.equal(readFileSync(join(dir, 'empty.jsonl'), 'utf8'), '');
  });

  it('fails with the file system error for a bad path', async () => {
    await assert.rejects(writeJsonl('/nonexistent-dir/x.jsonl', simulate({ sessions: 1 }).events), /ENOENT/);
  });
});
