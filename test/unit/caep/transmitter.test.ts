import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import pino from 'pino';
import { Registry } from 'prom-client';
import { CaepTransmitter, registerCaepRoutes } from '../../../src/caep';
import { caepSettings } from '../../../src/caep/settings';
import type { Decision } from '../../../src/contract';
import type { Logger } from '../../../src/log';

const ISSUER = 'http://127.0.0.1:9464';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const decision = (id: string, type: Decision['decision'] = 'TERMINATE'): Decision => ({
  decision_id: `dec-${id}`,
  event_id: `ev-${id}`,
  session_id: `sess-${id}`,
  user_id: `user-${id}`,
  app: 'jira',
  event_ts: 1_700_000_000_000,
  decided_at: 1_700_000_000_500,
  decision: type,
  score: 0.95,
  model_version: '2.0.0',
  reasons: [{ code: 'JA4_CHANGED', detail: 'TLS fingerprint changed', weight: 1 }],
});

interface Push {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A fetch that records pushes and answers from a script (the last answer repeats). */
function fakeFetch(answers: { status: number; body?: string; delayMs?: number }[]) {
  const pushes: Push[] = [];
  const fn = (async (url: string, init: RequestInit) => {
    pushes.push({ url, headers: init.headers as Record<string, string>, body: init.body as string });
    const a = answers[Math.min(pushes.length - 1, answers.length - 1)]!;
    if (a.delayMs) await sleep(a.delayMs);
    return new Response(a.status === 202 ? null : (a.body ?? null), { status: a.status });
  }) as unknown as typeof fetch;
  return { fn, pushes };
}

/** A logger whose lines the test can read. */
function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

const metricValue = async (registry: Registry, name: string, labels: Record<string, string> = {}) => {
  const m = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  const found = m.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x));
  return found?.value ?? 0;
};

describe('caep/transmitter (memory outbox)', () => {
  let dir: string;
  const open: CaepTransmitter[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'caep-tx-'));
  });
  afterEach(async () => {
    for (const t of open.splice(0)) await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function transmitter(settings: Record<string, unknown>, fetchImpl: typeof fetch, log?: Logger) {
    const registry = new Registry();
    const t = await CaepTransmitter.create(
      caepSettings.parse({
        enabled: true,
        keyFile: join(dir, 'key.json'),
        retryInitial: '10ms',
        retryMax: '40ms',
        pollInterval: '10ms',
        pushTimeout: '1s',
        ...settings,
      }),
      {
        keyPrefix: 'rs:',
        log: log ?? pino({ level: 'silent' }),
        registry,
        defaultIssuer: ISSUER,
        fetch: fetchImpl,
      },
    );
    open.push(t);
    return { t, registry };
  }

  const receivers = [
    { url: 'http://idp.test/caep', audience: 'idp', authorization: 'Bearer s3cret' },
    { url: 'http://proxy.test/caep', audience: 'proxy', events: ['session-revoked'] },
  ];

  it('enqueues one SET per wanted (decision, receiver), ignores ALLOW and BLOCK_ACTION, once per jti', async () => {
    const { fn } = fakeFetch([{ status: 202 }]);
    const { t, registry } = await transmitter({ receivers }, fn);
    await t.publish([
      decision('1'),
      decision('2', 'STEP_UP'),
      decision('3', 'ALLOW'),
      decision('4', 'BLOCK_ACTION'),
    ]);
    // TERMINATE -> idp + proxy, STEP_UP -> idp only (proxy asked for session-revoked only)
    assert.equal(await t.outbox.pending(), 3);
    await t.publish([decision('1'), decision('2', 'STEP_UP')]);
    assert.equal(await t.outbox.pending(), 3, 'the same decisions again add nothing');
    assert.equal(
      await metricValue(registry, 'riskstream_caep_sets_enqueued_total', { event: 'session-revoked' }),
      2,
    );
    assert.equal(
      await metricValue(registry, 'riskstream_caep_sets_enqueued_total', { event: 'assurance-level-change' }),
      1,
    );
    assert.equal(await metricValue(registry, 'riskstream_caep_outbox_pending'), 3);
  });

  it('pushes signed SETs with the RFC 8935 headers; a delivered jti is not pushed again', async () => {
    const { fn, pushes } = fakeFetch([{ status: 202 }]);
    const { t, registry } = await transmitter({ receivers }, fn);
    t.start();
    await t.publish([decision('1')]);
    await until(async () => pushes.length === 2 && (await t.outbox.pending()) === 0);
    const jwks = createLocalJWKSet(t.jwks() as JSONWebKeySet);
    for (const p of pushes) {
      assert.equal(p.headers['content-type'], 'application/secevent+jwt');
      assert.equal(p.headers.accept, 'application/json');
      const aud = p.url.startsWith('http://idp') ? 'idp' : 'proxy';
      assert.equal(p.headers.authorization, aud === 'idp' ? 'Bearer s3cret' : undefined);
      const { payload, protectedHeader } = await jwtVerify(p.body, jwks, {
        issuer: ISSUER,
        audience: aud,
        typ: 'secevent+jwt',
      });
      assert.equal(protectedHeader.alg, 'ES256');
      assert.equal(payload.txn, 'dec-1');
    }
    await t.publish([decision('1')]);
    await sleep(50);
    assert.equal(pushes.length, 2);
    assert.equal(await metricValue(registry, 'riskstream_caep_pushes_total', { outcome: 'delivered' }), 2);
  });

  it('retries failures with backoff, then delivers', async () => {
    const { fn, pushes } = fakeFetch([{ status: 503 }, { status: 429 }, { status: 500 }, { status: 202 }]);
    const { t, registry } = await transmitter(
      { receivers: [receivers[0]], retryInitial: '30ms', retryMax: '1s' },
      fn,
    );
    t.start();
    const started = Date.now();
    await t.publish([decision('1')]);
    await until(async () => (await t.outbox.pending()) === 0);
    assert.equal(pushes.length, 4);
    // three failures: at least 15 + 30 + 60 ms (the lower ends of the jittered 30, 60, 120 ms
    // steps), where retrying at each 10 ms poll would take about 30 ms
    assert.ok(Date.now() - started >= 105, `${Date.now() - started} ms`);
    assert.equal(new Set(pushes.map((p) => p.body.split('.')[1])).size, 1, 'the same claims each time');
    assert.equal(await metricValue(registry, 'riskstream_caep_pushes_total', { outcome: 'retry' }), 3);
    assert.equal(await metricValue(registry, 'riskstream_caep_pushes_total', { outcome: 'delivered' }), 1);
  });

  it('moves a SET the receiver rejects (400 + error) to the dead set without retrying, and says so', async () => {
    const { log, lines } = capturingLogger();
    const body = JSON.stringify({ err: 'invalid_audience', description: 'not for us' });
    const { fn, pushes } = fakeFetch([{ status: 400, body }]);
    const { t, registry } = await transmitter({ receivers: [receivers[0]] }, fn, log);
    t.start();
    await t.publish([decision('1')]);
    await until(async () => (await t.outbox.deadRecords()).length === 1);
    await sleep(50);
    assert.equal(pushes.length, 1, 'not retried');
    const [d] = await t.outbox.deadRecords();
    assert.equal(d?.reason, 'rejected');
    assert.equal(d?.err, 'invalid_audience');
    assert.equal(d?.description, 'not for us');
    assert.equal(await t.outbox.pending(), 0);
    assert.equal(await metricValue(registry, 'riskstream_caep_pushes_total', { outcome: 'rejected' }), 1);
    assert.equal(await metricValue(registry, 'riskstream_caep_dead_total', { reason: 'rejected' }), 1);
    const warn = lines.find((l) => l.level === 40 && String(l.msg).includes('rejected'));
    assert.ok(warn, JSON.stringify(lines));
    assert.equal(warn.receiver, 'idp');
    assert.equal(warn.jti, d?.jti);
    assert.equal(warn.err, 'invalid_audience');
    assert.ok(!JSON.stringify(lines).includes('s3cret'), 'the authorization header is never logged');
    // a dead jti is not enqueued again
    await t.publish([decision('1')]);
    assert.equal(await t.outbox.pending(), 0);
  });

  it('counts "duplicate jti" after a lost answer as delivered, not dead', async () => {
    const duplicate = JSON.stringify({ err: 'invalid_request', description: 'duplicate jti' });
    const { fn, pushes } = fakeFetch([{ status: 504 }, { status: 400, body: duplicate }]);
    const { t, registry } = await transmitter({ receivers: [receivers[0]] }, fn);
    t.start();
    await t.publish([decision('1')]);
    await until(async () => (await t.outbox.pending()) === 0);
    assert.equal(pushes.length, 2);
    assert.deepEqual(await t.outbox.deadRecords(), []);
    assert.equal(await metricValue(registry, 'riskstream_caep_pushes_total', { outcome: 'delivered' }), 1);
    await t.publish([decision('1')]);
    assert.equal(await t.outbox.pending(), 0, 'remembered as delivered');
  });

  it('gives up after caep.maxAttempts failed pushes', async () => {
    const { fn, pushes } = fakeFetch([{ status: 500 }]);
    const { t, registry } = await transmitter({ receivers: [receivers[0]], maxAttempts: 3 }, fn);
    t.start();
    await t.publish([decision('1')]);
    await until(async () => (await t.outbox.deadRecords()).length === 1);
    assert.equal(pushes.length, 3);
    const [d] = await t.outbox.deadRecords();
    assert.equal(d?.reason, 'exhausted');
    assert.equal(d?.attempts, 3);
    assert.match(d?.err ?? '', /HTTP 500/);
    assert.equal(await metricValue(registry, 'riskstream_caep_pushes_total', { outcome: 'retry' }), 2);
    assert.equal(await metricValue(registry, 'riskstream_caep_pushes_total', { outcome: 'dead' }), 1);
    assert.equal(await metricValue(registry, 'riskstream_caep_dead_total', { reason: 'exhausted' }), 1);
  });

  it('close() waits for pushes in flight and stops the loop', async () => {
    const { fn, pushes } = fakeFetch([{ status: 202, delayMs: 150 }]);
    const { t } = await transmitter({ receivers: [receivers[0]] }, fn);
    t.start();
    await t.publish([decision('1')]);
    await until(() => pushes.length === 1);
    await t.close();
    assert.equal(await t.outbox.pending(), 0, 'the push in flight was settled before close() resolved');
    await t.publish([decision('2')]);
    await sleep(50);
    assert.equal(pushes.length, 1, 'nothing pushed after close()');
    assert.equal(await t.outbox.pending(), 1, 'left in the outbox');
  });

  it('serves the SSF configuration and the public JWKS', async () => {
    const { fn } = fakeFetch([{ status: 202 }]);
    const { t } = await transmitter({ receivers, issuer: 'https://risk.example.com/' }, fn);
    assert.equal(t.issuer, 'https://risk.example.com/');
    const app = Fastify();
    registerCaepRoutes(app, t);
    const conf = await app.inject({ method: 'GET', url: '/.well-known/ssf-configuration' });
    assert.equal(conf.statusCode, 200);
    assert.deepEqual(conf.json(), {
      spec_version: '1_0',
      issuer: 'https://risk.example.com/',
      jwks_uri: 'https://risk.example.com/.well-known/jwks.json',
      delivery_methods_supported: ['urn:ietf:rfc:8935'],
      events_supported: [
        'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
        'https://schemas.openid.net/secevent/caep/event-type/assurance-level-change',
      ],
    });
    const keys = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    assert.equal(keys.statusCode, 200);
    assert.match(String(keys.headers['content-type']), /^application\/jwk-set\+json/);
    const set = keys.json<{ keys: Record<string, unknown>[] }>();
    assert.equal(set.keys.length, 1);
    assert.equal(set.keys[0]?.d, undefined, 'no private member');
    assert.equal(set.keys[0]?.kty, 'EC');
    assert.equal(typeof set.keys[0]?.kid, 'string');
    await app.close();
  });
});
