import assert from 'node:assert/strict';
import type { DeadRecord, OutboxRecord } from '../../../src/caep/outbox';
import { MemoryCaepOutbox } from '../../../src/caep/outbox';

const record = (jti: string, over: Partial<OutboxRecord> = {}): OutboxRecord => ({
  jti,
  event: 'session-revoked',
  audience: 'aud-1',
  claims: {
    iss: 'i',
    jti,
    iat: 1,
    aud: 'aud-1',
    txn: 'd',
    sub_id: {
      format: 'complex',
      session: { format: 'opaque', id: 's' },
      user: { format: 'opaque', id: 'u' },
    },
    events: {},
  },
  attempts: 0,
  enqueuedAt: 1,
  ...over,
});

const dead = (r: OutboxRecord): DeadRecord => ({
  ...r,
  reason: 'rejected',
  err: 'invalid_key',
  description: 'd',
  deadAt: 2,
});

describe('caep/outbox (memory)', () => {
  let now = 1000;
  let box: MemoryCaepOutbox;
  beforeEach(() => {
    now = 1000;
    box = new MemoryCaepOutbox(() => now);
  });

  it('stores a jti once while pending, delivered (until the TTL) or dead', async () => {
    assert.deepEqual(await box.enqueue([record('a'), record('a'), record('b'), record('c')]), [
      true,
      false,
      true,
      true,
    ]);
    assert.equal(await box.pending(), 3);
    const claim = await box.claim(5000, 10);
    assert.deepEqual(claim.records.map((r) => r.jti).sort(), ['a', 'b', 'c']);
    assert.equal(await box.delivered('a', claim.lease, 60_000), true);
    assert.equal(await box.dead(dead(record('b')), claim.lease), true);
    assert.deepEqual(await box.enqueue([record('a'), record('b')]), [false, false]);
    now += 60_001;
    assert.deepEqual(await box.enqueue([record('a')]), [true], 'delivered jti forgotten after the TTL');
    assert.deepEqual(
      (await box.deadRecords()).map((r) => [r.jti, r.reason]),
      [['b', 'rejected']],
    );
  });

  it('leases claims: not claimable again until the lease ends, then due again', async () => {
    await box.enqueue([record('a')]);
    const first = await box.claim(5000, 10);
    assert.equal(first.records.length, 1);
    assert.equal((await box.claim(5000, 10)).records.length, 0);
    now += 5001;
    const second = await box.claim(5000, 10);
    assert.equal(second.records.length, 1, 'a crashed claimer loses its SETs after the lease');
    // the first claimer's lease is gone: its retry and dead are ignored
    assert.equal(await box.retry({ ...record('a'), attempts: 1 }, first.lease, 0), false);
    assert.equal(await box.dead(dead(record('a')), first.lease), false);
    assert.equal(await box.pending(), 1);
    assert.equal(await box.retry({ ...record('a'), attempts: 1, lastError: 'x' }, second.lease, 2000), true);
    assert.equal((await box.claim(5000, 10)).records.length, 0, 'not due before the retry delay');
    now += 2000;
    const third = await box.claim(5000, 10);
    assert.equal(third.records[0]?.attempts, 1);
    assert.equal(third.records[0]?.lastError, 'x');
  });

  it('claims at most `limit`, earliest due first', async () => {
    await box.enqueue([record('a')]);
    now += 1;
    await box.enqueue([record('b')]);
    now += 1;
    await box.enqueue([record('c')]);
    assert.deepEqual(
      (await box.claim(1000, 2)).records.map((r) => r.jti),
      ['a', 'b'],
    );
  });

  it('never shares objects with the caller', async () => {
    const r = record('a');
    await box.enqueue([r]);
    r.attempts = 99;
    assert.equal((await box.claim(1000, 1)).records[0]?.attempts, 0);
  });
});
