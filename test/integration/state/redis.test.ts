import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import type { ActionInput, SessionAction, WindowView } from '../../../src/contract';
import { RiskStreamError } from '../../../src/errors';
import { toActionInput } from '../../../src/state/input';
import { sessionKeys } from '../../../src/state/keys';
import { MemorySessionStore } from '../../../src/state/memory';
import type { RedisStoreOptions } from '../../../src/state/redis';
import { RedisSessionStore } from '../../../src/state/redis';
import { loadScripts, luaDir } from '../../../src/state/scripts';
import type { StoreOptions } from '../../../src/state/window';
import { prng } from '../../helpers/fixtures';
import { REDIS_URL } from '../../helpers/services';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped dependency of ioredis
const keySlot = require('cluster-key-slot') as (key: string) => number;

const T0 = 1_700_000_000_000;

const ACTIONS = ['view', 'view', 'view', 'search', 'export', 'approve', 'config_change', 'custom_thing'];
const UAS = [
  'Mozilla/5.0 (X11)',
  'Mozilla/5.0 (Mac) Safari',
  'curl/8.5',
  'Ünïcødé 😀 agent',
  'bad \uD800 agent',
];
const GAPS = [0, 1, 59_999, 60_000, 60_001, 599_999, 600_000];

/** A seeded stream of actions in arrival order: gaps on window edges, late events, redeliveries,
 * logouts (and events after them), noisy sessions with many fingerprints, awkward session ids. */
function generate(seed: number, sessions: number, events: number): SessionAction[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const ids = Array.from({ length: sessions }, (_, i) => (i % 17 === 5 ? `odd{${i}}` : `sess-${i}`));
  const clock = ids.map(() => T0 + Math.floor(rnd() * 3_600_000));
  const noisy = ids.map(() => rnd() < 0.2);
  const out: SessionAction[] = [];
  for (let k = 0; k < events; k++) {
    if (out.length > 0 && rnd() < 0.06) {
      out.push(out[Math.max(0, out.length - 1 - Math.floor(rnd() * 400))]!);
      continue;
    }
    const s = Math.floor(rnd() * sessions);
    clock[s]! += rnd() < 0.3 ? pick(GAPS) : Math.floor(rnd() * 20_000);
    const late = rnd() < 0.06;
    const ts = late ? clock[s]! - Math.floor(rnd() * 900_000) : clock[s]!;
    const n = noisy[s] ? 12 : 2;
    const action = rnd() < 0.015 ? 'logout' : pick(ACTIONS);
    out.push({
      event_id: `${seed}-${k}`,
      ts,
      session_id: ids[s]!,
      user_id: `u${s}`,
      principal_type: 'EMPLOYEE',
      app: 'salesforce',
      action,
      resource: null,
      records: rnd() < 0.2 ? null : Math.floor(rnd() * 5000),
      mfa: null,
      client: {
        ip: `10.0.${s}.${Math.floor(rnd() * n)}`,
        asn: rnd() < 0.1 ? null : 64500 + Math.floor(rnd() * n),
        country: rnd() < 0.1 ? null : pick(['DE', 'FR', 'US']),
        lat: rnd() < 0.1 ? null : rnd() * 180 - 90,
        lon: rnd() < 0.1 ? null : rnd() * 360 - 180,
        user_agent: noisy[s] ? `${pick(UAS)} v${Math.floor(rnd() * n)}` : UAS[s % 2]!,
        ja4: rnd() < 0.3 ? null : `t13d${Math.floor(rnd() * n)}`,
        device_id: noisy[s] ? `dev${Math.floor(rnd() * n)}` : `dev-${s}`,
        accept_language: null,
      },
    });
  }
  return out;
}

function batches<T>(items: T[], seed: number, max: number): T[][] {
  const rnd = prng(seed);
  const out: T[][] = [];
  for (let i = 0; i < items.length;) {
    const size = 1 + Math.floor(rnd() * max);
    out.push(items.slice(i, i + size));
    i += size;
  }
  return out;
}

async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  const keys = await client.keys(`${prefix}*`);
  if (keys.length > 0) await client.del(...keys);
}

describe('state/redis RedisSessionStore (real Redis)', function () {
  let client: Redis;
  let prefix: string;
  const stores: RedisSessionStore[] = [];

  function makeStore(options: RedisStoreOptions = {}): RedisSessionStore {
    const store = new RedisSessionStore(client, { prefix, ...options });
    stores.push(store);
    return store;
  }

  before(async () => {
    client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    await client.ping();
  });
  beforeEach(() => {
    prefix = `rs:test:${randomBytes(6).toString('hex')}:`;
  });
  afterEach(async () => {
    await deleteKeys(client, prefix);
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  after(async () => {
    await client.quit();
  });

  const parityRuns: [string, number, StoreOptions][] = [
    ['small caps (distinct 8, ring 40, ledger 64)', 1, { maxDistinct: 8, maxRing: 40, dedupeCap: 64 }],
    ['default limits', 2, {}],
  ];
  for (const [name, seed, limits] of parityRuns) {
    it(`parity with the memory store, ${name}`, async () => {
      const actions = generate(seed, 50, 3000);
      const redis = makeStore(limits);
      const memory = new MemorySessionStore(limits);
      let duplicates = 0;
      let capped = 0;
      for (const batch of batches(actions, seed, 200)) {
        const inputs = batch.map(toActionInput);
        const fromRedis = await redis.applyBatch(inputs);
        const fromMemory = await memory.applyBatch(inputs);
        assert.deepEqual(fromRedis, fromMemory);
        duplicates += fromRedis.filter((v) => v.duplicate).length;
        capped += fromRedis.filter((v) => v.capped).length;
      }
      for (const sessionId of new Set(actions.map((a) => a.session_id))) {
        assert.deepEqual(await redis.peek(sessionId), memory.peek(sessionId), sessionId);
      }
      assert.ok(duplicates > 100, `only ${duplicates} duplicates`);
      if (limits.maxDistinct) assert.ok(capped > 100, `only ${capped} capped views`);
    });
  }

  it('sends one pipeline with one script call per session per batch', async () => {
    const rounds: [number, number][] = [];
    const store = makeStore({ onRoundTrip: (ms, sessions) => rounds.push([ms, sessions]) });
    const original = client.pipeline.bind(client);
    const queued: number[] = [];
    const spy = () => {
      const pipeline = original();
      const exec = pipeline.exec.bind(pipeline);
      pipeline.exec = (() => {
        queued.push(pipeline.length);
        return exec();
      }) as typeof pipeline.exec;
      return pipeline;
    };
    client.pipeline = spy as typeof client.pipeline;
    try {
      const inputs = generate(3, 20, 300).map(toActionInput);
      await store.applyBatch(inputs);
    } finally {
      client.pipeline = original;
    }
    assert.equal(queued.length, 1);
    // One script call per session, and the GET of the store's epoch (a lost state shows there).
    assert.equal(queued[0], 21);
    assert.equal(rounds.length, 1);
    assert.equal(rounds[0]![1], 20);
    assert.equal(store.lastRoundTripMs, rounds[0]![0]);
  });

  it('sets the idle TTL on the window and the count, the dedupe TTL on the ledger; logout deletes the window only', async () => {
    const store = makeStore({ idleTtlMs: 120_000, dedupeTtlMs: 30_000 });
    const base = { ...toActionInput(generate(4, 1, 1)[0]!), logout: false };
    const a = { ...base, sessionId: 'gone', eventId: 'a' };
    const b = { ...base, sessionId: 'live', eventId: 'b' };
    await store.applyBatch([a, { ...a, eventId: 'lo', logout: true }, b]);
    const live = store.keys(b.sessionId);
    const out = store.keys(a.sessionId);
    const within = async (keys: string[], ms: number) => {
      for (const key of keys) {
        const ttl = await client.pttl(key);
        assert.ok(ttl > ms - 10_000 && ttl <= ms, `${key}: ${ttl}`);
      }
    };
    await within([live.win, live.arr, out.arr], 120_000);
    await within([live.ev, live.evq, out.ev, out.evq], 30_000);
    assert.equal(await client.exists(out.win), 0);
    // A batch of duplicates only (a redelivery) refreshes every TTL too.
    await client.pexpire(live.arr, 60_000);
    await store.applyBatch([b]);
    await within([live.win, live.arr], 120_000);
  });

  it('a session whose ledger expired keeps counting arrivals (the friction state stays ordered)', async () => {
    const store = makeStore({ dedupeTtlMs: 1_000 });
    const base = { ...toActionInput(generate(9, 1, 1)[0]!), logout: false };
    const [a, b] = ['a', 'b'].map((eventId, i) => ({ ...base, eventId, ts: base.ts + i * 1000 }));
    const [first] = await store.applyBatch([a!]);
    const keys = store.keys(base.sessionId);
    await client.del(keys.ev, keys.evq); // as its TTL would
    const [second] = await store.applyBatch([b!]);
    assert.equal(first!.arrival, 0);
    assert.equal(second!.arrival, 1);
    assert.equal(second!.n, 1);
  });

  it('arrival counts on across a logout (n starts over), in both stores; a duplicate gets its own back', async () => {
    const base = { ...toActionInput(generate(8, 1, 1)[0]!), logout: false };
    const [a, lo, b, c] = ['a', 'lo', 'b', 'c'].map((eventId, i) => ({
      ...base,
      eventId,
      ts: base.ts + i * 1000,
      logout: eventId === 'lo',
    })) as [ActionInput, ActionInput, ActionInput, ActionInput];
    for (const store of [makeStore(), new MemorySessionStore()]) {
      await store.applyBatch([a, lo]);
      const views = await store.applyBatch([b, lo, c]);
      assert.deepEqual(
        views.map((v) => [v.n, v.arrival, v.duplicate]),
        [
          [0, 2, false],
          [1, 1, true],
          [1, 3, false],
        ],
      );
    }
  });

  it("keeps a session's keys in one hash slot, also for ids with braces", async () => {
    const store = makeStore();
    const ids = ['plain', 'a}b', '{x}', '', 'x}:{y'];
    const inputs = ids.map((id, i) => ({
      ...toActionInput(generate(5, 1, 1)[0]!),
      sessionId: id,
      eventId: `e${i}`,
    }));
    await store.applyBatch(inputs);
    for (const id of ids) {
      const { win, ev, evq } = sessionKeys(prefix, id);
      assert.equal(await client.exists(win, ev, evq), 3, id);
      assert.equal(new Set([win, ev, evq].map(keySlot)).size, 1, id);
    }
  });

  it('a redelivered event returns its stored view as a duplicate and changes nothing', async () => {
    const store = makeStore();
    const base = { ...toActionInput(generate(6, 1, 1)[0]!), logout: false };
    const [a, b, c] = ['a', 'b', 'c'].map((id, i) => ({ ...base, eventId: id, ts: base.ts + i * 1000 })) as [
      ActionInput,
      ActionInput,
      ActionInput,
    ];
    const first = await store.applyBatch([a, b]);
    const keys = store.keys(a.sessionId);
    const snapshot = async () => [
      await client.get(keys.win),
      await client.get(keys.arr),
      await client.hgetall(keys.ev),
      await client.lrange(keys.evq, 0, -1),
    ];
    const before = await snapshot();
    const again = await store.applyBatch([b, a]);
    assert.deepEqual(again, [
      { ...first[1]!, duplicate: true },
      { ...first[0]!, duplicate: true },
    ]);
    assert.deepEqual(await snapshot(), before);
    const [dup, next] = (await store.applyBatch([b, c])) as [WindowView, WindowView];
    assert.equal(dup.duplicate, true);
    assert.equal(next.n, 2);
  });

  it('a broken window is a STORE_SCRIPT error; a dead connection is STORE_UNAVAILABLE, retriable', async () => {
    const store = makeStore();
    const input = toActionInput(generate(7, 1, 1)[0]!);
    await client.set(store.keys(input.sessionId).win, 'not json');
    await assert.rejects(store.applyBatch([input]), (err: unknown) => {
      return err instanceof RiskStreamError && err.code === 'STORE_SCRIPT' && !err.retriable;
    });
    const dead = new Redis({
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    const offline = new RedisSessionStore(dead, { prefix, ownsClient: true });
    try {
      assert.equal(await offline.ping(), false);
      await assert.rejects(offline.applyBatch([input]), (err: unknown) => {
        return err instanceof RiskStreamError && err.code === 'STORE_UNAVAILABLE' && err.retriable;
      });
    } finally {
      dead.disconnect();
    }
    assert.equal(await store.ping(), true);
  });

  it('2,000 events over 500 sessions in one round trip (prints the time)', async () => {
    const store = makeStore();
    const inputs = generate(8, 500, 2000).map(toActionInput);
    const times: number[] = [];
    for (let round = 0; round < 3; round++) {
      const shifted = inputs.map((x, i) => ({
        ...x,
        sessionId: `bench-${i % 500}`,
        eventId: `${round}-${x.eventId}`,
        ts: x.ts + round * 1000,
      }));
      const views = await store.applyBatch(shifted);
      assert.equal(views.length, 2000);
      times.push(store.lastRoundTripMs);
    }
    const cpu = `${cpus().length} x ${cpus()[0]?.model ?? '?'}`;
    console.log(
      `      2000 events / 500 sessions, rounds 1-3: ${times.map((t) => t.toFixed(1)).join(', ')} ms (${cpu}, node ${process.version})`,
    );
  });
});

describe('state/scripts', () => {
  it('finds the lua folder from src/ and from a compiled dist/src/', () => {
    const root = join(__dirname, '..', '..', '..');
    assert.equal(luaDir(join(root, 'dist', 'src', 'state')), join(root, 'src', 'state', 'lua'));
    const scripts = loadScripts().map((s) => `${s.name}-${s.numberOfKeys}`);
    for (const expected of ['applyActions-4', 'savePolicy-1'])
      assert.ok(scripts.includes(expected), expected);
  });
});

describe('state/redis NOSCRIPT fallback inside a pipeline (private redis-server)', function () {
  let server: ChildProcess | undefined;
  let dir = '';
  let client: Redis;

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'rs-redis-'));
    const socket = join(dir, 'redis.sock');
    server = spawn(
      'redis-server',
      ['--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    server.on('error', () => undefined);
    for (let i = 0; i < 50 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
    if (!existsSync(socket)) this.skip();
    client = new Redis({ path: socket });
  });
  after(async () => {
    await client?.quit();
    server?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps working after SCRIPT FLUSH', async () => {
    const store = new RedisSessionStore(client);
    const actions = generate(9, 10, 200);
    const memory = new MemorySessionStore();
    const [one, two] = [actions.slice(0, 100), actions.slice(100)].map((b) => b.map(toActionInput));
    assert.deepEqual(await store.applyBatch(one!), await memory.applyBatch(one!));
    await client.script('FLUSH');
    assert.deepEqual(await store.applyBatch(two!), await memory.applyBatch(two!));
  });
});
