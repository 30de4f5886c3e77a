import assert from 'node:assert/strict';
import type { SessionStore } from '../../../src/contract';
import { toActionInput } from '../../../src/state/input';
import { MemorySessionStore } from '../../../src/state/memory';
import { RedisSessionStore } from '../../../src/state/redis';
import { action } from '../../helpers/fixtures';
import { deleteKeys, testRedis, uniqueName } from '../../helpers/services';

describe('state: idle expiry follows event time in every store', () => {
  const redis = testRedis();
  const prefix = `${uniqueName('rs-idle')}:`;
  after(async () => {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  for (const [name, make] of [
    ['memory', () => new MemorySessionStore({ idleTtlMs: 60_000, now: () => 0 })],
    ['redis', () => new RedisSessionStore(redis, { idleTtlMs: 60_000, prefix })],
  ] as [string, () => SessionStore][]) {
    it(`${name}: an event more than idleTtl after the last one starts a new window, one within it does not`, async () => {
      const store = make();
      const t = 1_760_000_000_000;
      const sid = uniqueName('s');
      const first = action({ session_id: sid, ts: t });
      const near = action({ session_id: sid, ts: t + 60_000, client: { user_agent: 'curl/8' } });
      const far = action({ session_id: sid, ts: t + 60_000 + 60_001, client: { user_agent: 'Other/1' } });
      const [v1, v2, v3] = await store.applyBatch([first, near, far].map(toActionInput));
      assert.equal(v1!.n, 0);
      assert.equal(v2!.n, 1);
      assert.equal(v2!.baseline.ua, first.client.user_agent);
      assert.equal(v3!.n, 0, 'a new window after the idle gap');
      assert.equal(v3!.baseline.ua, 'Other/1');
      // A redelivery of the old event still dedupes (the ledger outlives the window).
      const [again] = await store.applyBatch([toActionInput(near)]);
      assert.equal(again!.duplicate, true);
      assert.equal(again!.n, 1);
    });
  }
});
