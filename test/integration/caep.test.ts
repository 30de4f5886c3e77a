import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { Registry } from 'prom-client';
import { CaepTransmitter, registerCaepRoutes, startCaepReceiver } from '../../src/caep';
import type { RunningReceiver } from '../../src/caep';
import { RedisCaepOutbox } from '../../src/caep/outbox';
import type { OutboxRecord } from '../../src/caep/outbox';
import { CAEP_EVENT_PREFIX } from '../../src/caep/set';
import { caepSettings } from '../../src/caep/settings';
import type { Decision } from '../../src/contract';
import { caepKeys } from '../../src/state/keys';
import { deleteKeys, freePort, sleep, testRedis, uniqueName } from '../helpers/services';

const REVOKED = `${CAEP_EVENT_PREFIX}session-revoked`;
const ASSURANCE = `${CAEP_EVENT_PREFIX}assurance-level-change`;

const decision = (id: string, type: Decision['decision'] = 'TERMINATE'): Decision => ({
  decision_id: `dec-${id}`,
  event_id: `ev-${id}`,
  session_id: `sess-${id}`,
  user_id: `user-${id}`,
  app: 'salesforce',
  event_ts: 1_760_000_000_000,
  decided_at: 1_760_000_000_250,
  decision: type,
  score: type === 'TERMINATE' ? 0.97 : 0.7,
  model_version: '2.0.0',
  reasons: [
    { code: 'JA4_CHANGED', detail: 'TLS fingerprint changed under the same User-Agent', weight: 0.8 },
  ],
  action: 'export',
  policy_version: 'default@1#abc',
  policy_rule: 'model',
});

const metric = async (registry: Registry, name: string, labels: Record<string, string>) => {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;
};

async function until(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('caep: SETs pushed from a Redis outbox to a verifying receiver', function () {
  this.timeout(20_000);
  const redis = testRedis();
  let prefix: string;
  let dir: string;
  let issuer: string;
  let issuerPort: number;
  let app: FastifyInstance | undefined;
  const transmitters: CaepTransmitter[] = [];
  const receivers: RunningReceiver[] = [];

  beforeEach(async () => {
    prefix = `${uniqueName('rs-caep')}:`;
    dir = mkdtempSync(join(tmpdir(), 'caep-it-'));
    issuerPort = await freePort();
    issuer = `http://127.0.0.1:${issuerPort}`;
  });

  afterEach(async () => {
    for (const t of transmitters.splice(0)) await t.close();
    for (const r of receivers.splice(0)) await r.close();
    await app?.close();
    app = undefined;
    await deleteKeys(redis, prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  after(() => redis.disconnect());

  /** A transmitter on the test's Redis prefix and key file; the first one also serves the JWKS. */
  async function transmitter(settings: Record<string, unknown>) {
    const registry = new Registry();
    const t = await CaepTransmitter.create(
      caepSettings.parse({
        enabled: true,
        keyFile: join(dir, 'caep-key.json'),
        retryInitial: '50ms',
        retryMax: '400ms',
        pollInterval: '20ms',
        // generous: a push that times out on a busy machine would be pushed again
        pushTimeout: '5s',
        ...settings,
      }),
      { redis, keyPrefix: prefix, log: pino({ level: 'silent' }), registry, defaultIssuer: issuer },
    );
    transmitters.push(t);
    if (!app) {
      app = Fastify();
      registerCaepRoutes(app, t);
      await app.listen({ port: issuerPort, host: '127.0.0.1' });
    }
    return { t, registry };
  }

  async function receiver(
    audience: string,
    opts: { failFirst?: number; port?: number; authorization?: string } = {},
  ) {
    const r = await startCaepReceiver({
      jwksUrl: `${issuer}/.well-known/jwks.json`,
      issuer,
      audience,
      ...opts,
    });
    receivers.push(r);
    return r;
  }

  it('delivers SETs the receiver verifies through the JWKS: iss, aud, unique jti, payload', async () => {
    const idp = await receiver('https://idp.example.com', { authorization: 'Bearer idp-token' });
    const proxy = await receiver('https://proxy.example.com');
    const { t, registry } = await transmitter({
      receivers: [
        { url: idp.url, audience: 'https://idp.example.com', authorization: 'Bearer idp-token' },
        { url: proxy.url, audience: 'https://proxy.example.com', events: ['session-revoked'] },
      ],
    });
    t.start();
    await t.publish([
      decision('1'),
      decision('2', 'STEP_UP'),
      decision('3', 'ALLOW'),
      decision('4', 'BLOCK_ACTION'),
    ]);
    await idp.waitFor(2, 5000);
    await proxy.waitFor(1, 5000);
    await sleep(100);
    assert.deepEqual(idp.refused, []);
    assert.deepEqual(proxy.refused, []);
    assert.equal(idp.received.length, 2);
    assert.equal(proxy.received.length, 1, 'the proxy asked for session-revoked only');

    const revoked = idp.received.find((s) => s.event === REVOKED)!;
    assert.equal(revoked.iss, issuer);
    assert.equal(revoked.aud, 'https://idp.example.com');
    assert.equal(revoked.txn, 'dec-1');
    assert.equal(revoked.header.typ, 'secevent+jwt');
    assert.equal(revoked.header.kid, (t.jwks().keys[0] as { kid: string }).kid);
    assert.deepEqual(revoked.subId, {
      format: 'complex',
      session: { format: 'opaque', id: 'sess-1' },
      user: { format: 'opaque', id: 'user-1' },
    });
    assert.equal(revoked.eventClaims.event_timestamp, 1_760_000_000);
    assert.equal(revoked.eventClaims.initiating_entity, 'policy');
    assert.match((revoked.eventClaims.reason_admin as { en: string }).en, /JA4_CHANGED/);
    assert.equal(revoked.claims.sub, undefined);
    assert.equal(revoked.claims.exp, undefined);

    const stepUp = idp.received.find((s) => s.event === ASSURANCE)!;
    assert.equal(stepUp.txn, 'dec-2');
    assert.equal(stepUp.eventClaims.namespace, 'NIST-AAL');
    assert.equal(stepUp.eventClaims.current_level, 'nist-aal1');
    assert.equal(stepUp.eventClaims.previous_level, 'nist-aal2');
    assert.equal(stepUp.eventClaims.change_direction, 'decrease');

    // one jti per (decision, event, audience)
    const jtis = [...idp.received, ...proxy.received].map((s) => s.jti);
    assert.equal(new Set(jtis).size, 3);
    assert.notEqual(proxy.received[0]!.jti, revoked.jti, 'the same decision has another jti per audience');

    // the outbox is empty and remembers what it delivered, for deliveredTtl
    const keys = caepKeys(prefix);
    assert.equal(await redis.zcard(keys.due), 0);
    assert.equal(await redis.hlen(keys.sets), 0);
    const ttl = await redis.pttl(keys.delivered(revoked.jti));
    assert.ok(ttl > 7 * 86_400_000 - 60_000 && ttl <= 7 * 86_400_000, String(ttl));
    assert.equal(await metric(registry, 'riskstream_caep_pushes_total', { outcome: 'delivered' }), 3);
    assert.match(await registry.metrics(), /riskstream_caep_outbox_pending 0/);
  });

  it('retries with backoff while the receiver fails the first pushes', async () => {
    const idp = await receiver('idp', { failFirst: 3 });
    const { t, registry } = await transmitter({ receivers: [{ url: idp.url, audience: 'idp' }] });
    t.start();
    const started = Date.now();
    await t.publish([decision('1')]);
    const [set] = await idp.waitFor(1, 5000);
    const took = Date.now() - started;
    assert.equal(idp.requests, 4);
    assert.deepEqual(
      idp.refused.map((r) => r.status),
      [503, 503, 503],
    );
    // jittered steps of 50, 100 and 200 ms: at least 25 + 50 + 100
    assert.ok(took >= 175, `delivered after ${took} ms`);
    assert.equal(set!.txn, 'dec-1');
    // the receiver answered; the transmitter counts once the answer is back
    await until(async () => (await t.outbox.pending()) === 0, 2000, 'the delivery to be settled');
    assert.equal(await metric(registry, 'riskstream_caep_pushes_total', { outcome: 'retry' }), 3);
    assert.equal(await metric(registry, 'riskstream_caep_pushes_total', { outcome: 'delivered' }), 1);
  });

  it('moves a SET rejected with 400 to the dead set in Redis, with the reason, and never retries it', async () => {
    const idp = await receiver('https://idp.example.com');
    // the receiver expects another audience: 400 invalid_audience
    const { t, registry } = await transmitter({
      receivers: [{ url: idp.url, audience: 'https://wrong.example.com' }],
    });
    t.start();
    await t.publish([decision('1')]);
    await until(async () => (await redis.hlen(caepKeys(prefix).dead)) === 1, 5000, 'the dead set');
    await sleep(300);
    assert.equal(idp.requests, 1, 'not retried');
    assert.equal(idp.received.length, 0);
    const [dead] = await t.outbox.deadRecords();
    assert.equal(dead?.reason, 'rejected');
    assert.equal(dead?.err, 'invalid_audience');
    assert.match(dead?.description ?? '', /aud/);
    assert.equal(dead?.audience, 'https://wrong.example.com');
    assert.equal(await t.outbox.pending(), 0);
    assert.equal(await metric(registry, 'riskstream_caep_dead_total', { reason: 'rejected' }), 1);
    // publishing the decision again does not revive it
    await t.publish([decision('1')]);
    await sleep(200);
    assert.equal(idp.requests, 1);
  });

  it('delivers a decision published twice (before and after delivery) once', async () => {
    const idp = await receiver('idp');
    const { t, registry } = await transmitter({ receivers: [{ url: idp.url, audience: 'idp' }] });
    await Promise.all([t.publish([decision('1')]), t.publish([decision('1'), decision('1')])]);
    t.start();
    await idp.waitFor(1, 5000);
    await t.publish([decision('1')]);
    await sleep(300);
    assert.equal(idp.requests, 1);
    assert.deepEqual(idp.refused, [], 'no duplicate jti reached the receiver');
    assert.equal(
      await metric(registry, 'riskstream_caep_sets_enqueued_total', { event: 'session-revoked' }),
      1,
    );
  });

  it('keeps SETs across a restart: published while the receiver is down, delivered by the next transmitter', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/events`;
    const settings = { receivers: [{ url, audience: 'idp' }] };
    const first = await transmitter(settings);
    first.t.start();
    await first.t.publish([decision('1'), decision('2', 'STEP_UP')]);
    await until(
      async () => (await metric(first.registry, 'riskstream_caep_pushes_total', { outcome: 'retry' })) >= 2,
      5000,
      'failed pushes',
    );
    await first.t.close();
    assert.equal(await first.t.outbox.pending(), 2, 'undelivered SETs stay in the outbox');

    const idp = await receiver('idp', { port });
    const second = await transmitter(settings);
    second.t.start();
    const sets = await idp.waitFor(2, 5000);
    assert.deepEqual(sets.map((s) => s.txn).sort(), ['dec-1', 'dec-2']);
    await sleep(100);
    assert.equal(idp.received.length, 2);
    assert.equal(await second.t.outbox.pending(), 0);
  });

  it('two transmitters on one prefix push each SET exactly once', async () => {
    const idp = await receiver('idp');
    const settings = { receivers: [{ url: idp.url, audience: 'idp' }], pollInterval: '5ms' };
    const a = await transmitter(settings);
    const b = await transmitter(settings);
    const decisions = Array.from({ length: 150 }, (_, i) =>
      decision(String(i), i % 3 === 0 ? 'STEP_UP' : 'TERMINATE'),
    );
    a.t.start();
    b.t.start();
    // both instances see the same decisions (a redelivered batch): still one SET each
    await Promise.all([a.t.publish(decisions.slice(0, 100)), b.t.publish(decisions.slice(50))]);
    await idp.waitFor(150, 10_000);
    await sleep(300);
    assert.equal(idp.received.length, 150);
    assert.deepEqual(idp.refused, [], `no jti pushed twice: ${JSON.stringify(idp.refused.slice(0, 3))}`);
    assert.equal(idp.requests, 150);
    const delivered = async (r: Registry) =>
      metric(r, 'riskstream_caep_pushes_total', { outcome: 'delivered' });
    const da = await delivered(a.registry);
    const db = await delivered(b.registry);
    assert.equal(da + db, 150);
    assert.ok(da > 0 && db > 0, `both instances delivered (a ${da}, b ${db})`);
  });

  it("a crashed instance's claimed SETs are delivered by another after the lease, and its late settle is ignored", async () => {
    const idp = await receiver('idp');
    const { t } = await transmitter({ receivers: [{ url: idp.url, audience: 'idp' }] });
    await t.publish([decision('1')]);
    // the "crashed" instance claims the SET and never settles it
    const crashed = new RedisCaepOutbox(redis, prefix);
    const claim = await crashed.claim(600, 10);
    assert.equal(claim.records.length, 1);
    assert.equal((await crashed.claim(600, 10)).records.length, 0, 'claimed once only');
    const started = Date.now();
    t.start();
    await idp.waitFor(1, 5000);
    assert.ok(
      Date.now() - started >= 450,
      `delivered ${Date.now() - started} ms after start: before the lease ended`,
    );
    const record = claim.records[0] as OutboxRecord;
    assert.equal(await crashed.retry({ ...record, attempts: 1 }, claim.lease, 0), false);
    assert.equal(await t.outbox.pending(), 0);
    await sleep(200);
    assert.equal(idp.requests, 1);
  });

  it('dead-letters SETs whose receiver is no longer configured', async () => {
    const first = await transmitter({ receivers: [{ url: 'http://127.0.0.1:9/events', audience: 'gone' }] });
    await first.t.publish([decision('1')]);
    await first.t.close();
    const idp = await receiver('idp');
    const second = await transmitter({ receivers: [{ url: idp.url, audience: 'idp' }] });
    second.t.start();
    await until(async () => (await second.t.outbox.deadRecords()).length === 1, 5000, 'the dead set');
    const [dead] = await second.t.outbox.deadRecords();
    assert.equal(dead?.reason, 'unconfigured');
    assert.equal(dead?.audience, 'gone');
    assert.equal(await metric(second.registry, 'riskstream_caep_dead_total', { reason: 'unconfigured' }), 1);
  });
});

describe('caep: the Redis outbox scripts', () => {
  const redis = testRedis();
  const prefix = `${uniqueName('rs-caep-box')}:`;
  after(async () => {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  const record = (jti: string): OutboxRecord => ({
    jti,
    event: 'session-revoked',
    audience: 'a',
    claims: {
      iss: 'i',
      jti,
      iat: 1,
      aud: 'a',
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
  });

  it('keeps every key under the prefix with the {caep} hash tag', () => {
    const k = caepKeys('rs:');
    assert.deepEqual(
      [k.due, k.sets, k.dead, k.delivered('j-1')],
      [
        'rs:caep:{caep}:v1:due',
        'rs:caep:{caep}:v1:sets',
        'rs:caep:{caep}:v1:dead',
        'rs:caep:{caep}:v1:done:j-1',
      ],
    );
  });

  it('enqueues once per jti, remembers delivered jtis for the TTL only, and fences settles by lease', async () => {
    const box = new RedisCaepOutbox(redis, prefix);
    assert.deepEqual(await box.enqueue([record('a'), record('b'), record('a')]), [true, true, false]);
    const claim = await box.claim(10_000, 10);
    assert.deepEqual(claim.records.map((r) => r.jti).sort(), ['a', 'b']);
    assert.ok(claim.lease > Date.now() + 5000, 'the lease is in Redis time, ms');
    assert.equal(await box.delivered('a', claim.lease, 300), true);
    assert.equal(
      await box.retry({ ...record('b'), attempts: 1 }, claim.lease + 1, 0),
      false,
      'not our lease',
    );
    assert.equal(await box.retry({ ...record('b'), attempts: 1 }, claim.lease, 0), true);
    assert.deepEqual(await box.enqueue([record('a')]), [false], 'delivered');
    await sleep(350);
    assert.deepEqual(await box.enqueue([record('a')]), [true], 'the delivered marker expired');
    const again = await box.claim(10_000, 10);
    assert.deepEqual(again.records.map((r) => [r.jti, r.attempts]).sort(), [
      ['a', 0],
      ['b', 1],
    ]);
  });

  it('lets exactly one of many concurrent claimers have each SET', async () => {
    const box = new RedisCaepOutbox(redis, `${prefix}race:`);
    await box.enqueue(Array.from({ length: 200 }, (_, i) => record(`r-${i}`)));
    const clients = Array.from({ length: 4 }, () => testRedis());
    try {
      const boxes = clients.map((c) => new RedisCaepOutbox(c, `${prefix}race:`));
      const claimed: string[] = [];
      await Promise.all(
        boxes.map(async (b) => {
          for (;;) {
            const c = await b.claim(60_000, 7);
            if (c.records.length === 0) return;
            claimed.push(...c.records.map((r) => r.jti));
          }
        }),
      );
      assert.equal(claimed.length, 200);
      assert.equal(new Set(claimed).size, 200);
    } finally {
      for (const c of clients) c.disconnect();
    }
  });
});
