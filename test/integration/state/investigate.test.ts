import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { SettleBatch } from '../../../src/contract';
import { toActionInput } from '../../../src/state/input';
import type { RedisStoreOptions } from '../../../src/state/redis';
import { RedisSessionStore } from '../../../src/state/redis';
import { action } from '../../helpers/fixtures';
import { deleteKeys, sleep, testRedis, uniqueName } from '../../helpers/services';
import { investigationContract } from '../../helpers/store-contract';

describe('state/redis RedisSessionStore: the analyst API contract (real Redis)', () => {
  const client = testRedis();
  const stores: RedisSessionStore[] = [];
  /** A fresh, empty store: its own random prefix (the decisions index is one key per prefix). */
  const makeStore = (options: RedisStoreOptions = {}) => {
    const store = new RedisSessionStore(client, { prefix: `${uniqueName('rs-investigate')}:`, ...options });
    stores.push(store);
    return store;
  };

  afterEach(async () => {
    const done = stores.splice(0);
    await Promise.all(done.map((s) => s.close()));
    for (const store of done) await deleteKeys(client, store.prefix);
  });
  after(async () => {
    await client.quit();
  });

  investigationContract('redis', makeStore, {
    // MAXLEN ~ trims whole stream nodes, each up to this many entries.
    decisionsSlack: async () => {
      const [, entries] = (await client.config('GET', 'stream-node-max-entries')) as [string, string];
      return Number(entries);
    },
  });

  const batch = (): SettleBatch => ({
    policy: ['a', 'b', 'c'].map((sessionId, i) => ({ sessionId, asOf: i + 1, state: `P${i}` })),
    timeline: ['a', 'b', 'c'].flatMap((sessionId) =>
      [0, 1].map((n) => ({ sessionId, n, entry: `${sessionId}${n}` })),
    ),
    decisions: ['x', 'y', 'z', 'w'],
  });

  it('redis: one settle is one round trip; an empty one is none', async () => {
    const store = makeStore();
    // Loads the scripts (a first EVALSHA may get NOSCRIPT and be resent).
    await store.settle(batch());
    const socket = client.stream;
    const write = socket.write.bind(socket);
    let writes = 0;
    socket.write = ((...args: Parameters<typeof socket.write>) => {
      writes++;
      return write(...args);
    }) as typeof socket.write;
    try {
      await store.settle(batch());
      assert.equal(writes, 1);
      await store.settle({ policy: [], timeline: [], decisions: [] });
      assert.equal(writes, 1);
    } finally {
      socket.write = write;
    }
    assert.deepEqual(await store.readTimeline('b'), ['b0', 'b1']);
    assert.equal((await store.readDecisions(null, 100)).length, 8);
  });

  it('redis: the policy key gets the idle TTL, the timeline timeline.ttl', async () => {
    const store = makeStore({
      idleTtlMs: 90_000,
      timeline: { maxEntries: 10, ttlMs: 40_000, maxDecisions: 10 },
    });
    await store.applyBatch([toActionInput(action({ session_id: 'a' }))]);
    await store.settle(batch());
    const keys = [store.keys('a').pol, store.keys('a').tl, store.keys('c').tl];
    for (const [i, key] of keys.entries()) {
      const ttl = await client.pttl(key);
      const max = i === 0 ? 90_000 : 40_000;
      assert.ok(ttl > max - 10_000 && ttl <= max, `${key}: ${ttl}`);
    }
    const { expiresInMs } = await store.readSession('a');
    assert.ok(expiresInMs !== null && expiresInMs > 80_000 && expiresInMs <= 90_000, `${expiresInMs}`);
  });

  it('redis: close() ends the follower connection and leaves a shared client open', async () => {
    const store = makeStore();
    const followerOf = () => (store as unknown as { follower: Redis | undefined }).follower;
    const waiting = store.followDecisions(null, 5000);
    await sleep(100);
    const follower = followerOf();
    assert.ok(follower, 'the waiting follow has a connection of its own');
    assert.equal(follower.status, 'ready');
    await store.close();
    assert.deepEqual(await waiting, []);
    assert.equal(follower.status, 'end');
    assert.deepEqual(await store.followDecisions(null, 1000), []);
    assert.equal(followerOf(), undefined, 'no new connection after close()');
    assert.equal(await client.ping(), 'PONG');
  });
});
