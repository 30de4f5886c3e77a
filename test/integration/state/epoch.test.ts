import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { toActionInput } from '../../../src/state/input';
import { epochKey } from '../../../src/state/keys';
import { RedisSessionStore } from '../../../src/state/redis';
import { action } from '../../helpers/fixtures';
import { REDIS_URL, deleteKeys, uniqueName } from '../../helpers/services';

/** The store's epoch key: how an engine finds out that Redis lost its state while it ran. */
describe('state/redis epoch (real Redis)', () => {
  const prefix = `${uniqueName('rs-epoch')}:`;
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
  const input = (sessionId: string) => toActionInput(action({ session_id: sessionId }));

  after(async () => {
    await deleteKeys(client, prefix);
    client.disconnect();
  });

  it('a new store is not a loss; its keys gone while the engine runs are, for this engine and the next', async () => {
    const lost: number[] = [];
    const store = new RedisSessionStore(client, { prefix, onStateLost: (at) => lost.push(at) });
    await store.applyBatch([input('s-1')]);
    assert.equal(store.stateLostAt(), null, 'the first batch on an empty Redis: a new store');
    assert.ok(await client.get(epochKey(prefix)));
    await store.applyBatch([input('s-1')]);
    assert.deepEqual(lost, []);

    await deleteKeys(client, prefix); // what a restart without persistence or a FLUSHALL leaves
    const before = Date.now();
    const views = await store.applyBatch([input('s-1')]);
    assert.equal(views[0]!.n, 0);
    const at = store.stateLostAt();
    assert.ok(at !== null && at >= before && at <= Date.now(), `lost at ${at}`);
    assert.deepEqual(lost, [at]);

    // Another engine (running before the loss) and one started after both learn it from the key.
    const other = new RedisSessionStore(client, { prefix });
    await other.applyBatch([input('s-2')]);
    assert.equal(other.stateLostAt(), at);
    await store.applyBatch([input('s-3')]);
    assert.deepEqual(lost, [at], 'counted once');

    // It matters only while sessions from before may still turn up (redis.idleTtl).
    const short = new RedisSessionStore(client, { prefix, idleTtlMs: 1 });
    await short.applyBatch([input('s-4')]);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(short.stateLostAt(), null);
  });
});
