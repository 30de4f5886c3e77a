import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { checkKeyPrefix, sessionKeys, sessionTag } from '../../../src/state/keys';

/** The text Redis Cluster hashes: between the first `{` and the next `}`, if non-empty. */
function hashedPart(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close <= open + 1 ? key : key.slice(open + 1, close);
}

describe('state/keys', () => {
  it('builds the keys of a session with its id as hash tag', () => {
    assert.deepEqual(sessionKeys('rs:', 'sess-42'), {
      win: 'rs:{sess-42}:v3:win',
      ev: 'rs:{sess-42}:v3:ev',
      evq: 'rs:{sess-42}:v3:evq',
      arr: 'rs:{sess-42}:v3:arr',
      pol: 'rs:{sess-42}:v3:pol',
      tl: 'rs:{sess-42}:v3:tl',
    });
  });

  const awkward = ['a}b', '{x}', 'a{b', '}', '{', '', 'x}:{y', 'ünï çødé', 'a b:c'];
  for (const id of awkward) {
    it(`keeps the keys of session id ${JSON.stringify(id)} in one slot, distinct from other ids`, () => {
      const keys = sessionKeys('rs:', id);
      const parts = [keys.win, keys.ev, keys.evq, keys.arr, keys.pol, keys.tl].map(hashedPart);
      assert.equal(new Set(parts).size, 1, `hashed parts differ: ${parts.join(' | ')}`);
      assert.ok(!['win', 'ev', 'evq'].some((suffix) => parts[0]!.endsWith(suffix)));
    });
  }

  it('hashes ids containing braces (or empty) and marks them outside the tag', () => {
    const sha = createHash('sha1').update('a}b').digest('hex');
    assert.equal(sessionTag('a}b'), `#{${sha}}`);
    assert.equal(sessionKeys('rs:', 'a}b').win, `rs:#{${sha}}:v3:win`);
    // a raw id equal to that sha1 gets a different key
    assert.notEqual(sessionKeys('rs:', sha).win, sessionKeys('rs:', 'a}b').win);
    assert.match(sessionTag(''), /^#\{[0-9a-f]{40}\}$/);
  });

  it('rejects a prefix with a brace', () => {
    assert.equal(checkKeyPrefix('rs:test:'), 'rs:test:');
    assert.throws(() => checkKeyPrefix('rs:{x}:'), /prefix/);
  });
});
