import assert from 'node:assert/strict';
import { Rng } from '../../../src/sim/rng';

describe('sim/rng', () => {
  it('is a function of the seed', () => {
    const draw = (seed: number | string) => {
      const r = new Rng(seed);
      return Array.from({ length: 20 }, () => r.u32());
    };
    assert.deepEqual(draw(42), draw(42));
    assert.deepEqual(draw('demo'), draw('demo'));
    assert.notDeepEqual(draw(42), draw(43));
  });

  it('forks independent streams deterministically', () => {
    const a = new Rng(1);
    const b = new Rng(1);
    const fa = a.fork();
    const fb = b.fork();
    assert.equal(fa.hex(32), fb.hex(32));
    assert.notEqual(a.hex(32), fa.hex(32));
  });

  it('keeps draws in range', () => {
    const r = new Rng(5);
    for (let i = 0; i < 10_000; i++) {
      const x = r.next();
      assert.ok(x >= 0 && x < 1);
      const n = r.int(-3, 3);
      assert.ok(Number.isInteger(n) && n >= -3 && n <= 3);
    }
    const seen = new Set(Array.from({ length: 1000 }, () => r.int(1, 6)));
    assert.deepEqual([...seen].sort(), [1, 2, 3, 4, 5, 6]);
  });

  it('never picks a zero weight and follows the weights', () => {
    const r = new Rng(9);
    const counts = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 10_000; i++)
      counts[
        r.weighted([
          ['a', 1],
          ['b', 0],
          ['c', 3],
        ] as const)
      ]++;
    assert.equal(counts.b, 0);
    assert.ok(counts.c > 2.5 * counts.a && counts.c < 3.5 * counts.a, JSON.stringify(counts));
    assert.throws(() => r.weighted([['x', 0]]), RangeError);
  });

  it('formats version 4 UUIDs and hex', () => {
    const r = new Rng(3);
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const id = r.uuid();
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      ids.add(id);
    }
    assert.equal(ids.size, 1000);
    assert.match(r.hex(24), /^[0-9a-f]{24}$/);
    assert.match(r.hex(5), /^[0-9a-f]{5}$/);
  });

  it('draws log-normal values around the median', () => {
    const r = new Rng(11);
    const xs = Array.from({ length: 5001 }, () => r.logNormal(100, 0.8)).sort((a, b) => a - b);
    const median = xs[2500] as number;
    assert.ok(median > 90 && median < 110, String(median));
    assert.ok(xs.every((x) => x > 0));
  });
});
