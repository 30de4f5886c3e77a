import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { Partitioners, type Admin, type Consumer, type Kafka, type Producer } from 'kafkajs';
import type { Decision, DecisionType, SessionAction } from '../../src/contract';
import { buildProxy, startProxy, type RunningProxy } from '../../src/enforcer/example/proxy';
import { signToken } from '../../src/enforcer/example/token';
import { TOY_STEP_UP_CODE, startToyApp, type Running } from '../../src/enforcer/example/toy-app';
import { SessionEnforcement } from '../../src/enforcer/state';
import { encodeDecision } from '../../src/emit/encode';
import { defaultRegistry } from '../../src/ingest/schemas';
import { KAFKA_BROKERS, createTopics, deleteTopics, sleep, testKafka, uniqueName } from '../helpers/services';

const ENGINE_TOKEN = 'stand-in-token';
const INLINE_TIMEOUT_MS = 500;

/** What the stand-in answers for an action: a decision type, and how long to take. */
type Rule = (a: SessionAction) => { decision: DecisionType; delayMs?: number };

/**
 * A STAND-IN for the engine's `POST /v1/evaluate`, written for this test (the real engine's route is
 * tested with the engine): it checks the bearer token, records every action it is asked about and
 * answers with the Decision the test's rule picks, in the contract's JSON form.
 */
async function startStandInEvaluate(
  rule: Rule,
): Promise<{ app: FastifyInstance; url: string; calls: SessionAction[] }> {
  const app = Fastify();
  const calls: SessionAction[] = [];
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.post<{ Body: SessionAction }>('/v1/evaluate', async (req, reply) => {
    if (req.headers.authorization !== `Bearer ${ENGINE_TOKEN}`)
      return reply.code(401).send({ error: 'unauthorized' });
    const a = req.body;
    calls.push(a);
    const { decision, delayMs } = rule(a);
    if (delayMs) await sleep(delayMs);
    const d: Decision = {
      decision_id: `stand-in-${a.event_id}`,
      event_id: a.event_id,
      session_id: a.session_id,
      user_id: a.user_id,
      app: a.app,
      event_ts: a.ts,
      decided_at: Date.now(),
      decision,
      score: decision === 'ALLOW' ? 0.05 : 0.8,
      model_version: 'stand-in',
      reasons: decision === 'ALLOW' ? [] : [{ code: 'STAND_IN_RULE', detail: 'test rule', weight: 1 }],
      action: a.action,
      policy_version: null,
      policy_rule: 'stand-in',
    };
    return d;
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, calls };
}

/** The test's engine rules, by what the request looks like. */
const rule: Rule = (a) => {
  if (a.resource === 'slow' || a.client.user_agent === 'slow-agent')
    return { decision: 'ALLOW', delayMs: 1500 };
  if (a.client.user_agent.startsWith('curl/')) return { decision: 'STEP_UP' };
  if (a.action === 'export' && (a.records ?? 0) > 1000) return { decision: 'BLOCK_ACTION' };
  return { decision: 'ALLOW' };
};

const LAPTOP = {
  'user-agent':
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15',
  'x-forwarded-for': '198.51.100.7',
  'x-ja4': 't13d1516h2_8daaf6152771_02713d6af862',
  'x-device-id': 'laptop-1',
  'x-client-asn': '7922',
  'x-client-country': 'US',
  'x-client-lat': '40.71',
  'x-client-lon': '-74.01',
  'accept-language': 'en-US,en;q=0.9',
};
const STOLEN = {
  'user-agent': 'curl/8.5.0',
  'x-forwarded-for': '203.0.113.99',
  'x-ja4': 't13d311100_e8f1e7e78f70_1f22a2ca17c4',
  'x-client-asn': '14061',
  'x-client-country': 'NL',
};

describe('enforcer example proxy in front of the toy app (real Kafka, stand-in /v1/evaluate)', function () {
  this.timeout(60_000);
  const secret = randomBytes(16).toString('hex');
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let collector: Consumer;
  let topics: { actions: string; decisions: string };
  let toy: Running;
  let standIn: Awaited<ReturnType<typeof startStandInEvaluate>>;
  let proxy: RunningProxy;
  const published: SessionAction[] = [];
  let token = '';
  let sid = '';

  before(async () => {
    kafka = testKafka();
    admin = kafka.admin();
    await admin.connect();
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    topics = { actions: uniqueName('proxy-actions'), decisions: uniqueName('proxy-decisions') };
    await createTopics(admin, Object.values(topics));

    const type = defaultRegistry().sessionActionType;
    collector = kafka.consumer({ groupId: uniqueName('proxy-collector'), maxWaitTimeInMs: 200 });
    await collector.connect();
    await collector.subscribe({ topic: topics.actions, fromBeginning: true });
    await collector.run({
      eachMessage: async ({ message }) => {
        // Plain objects (avsc decodes to record instances), as JSON consumers would see them.
        if (message.value)
          published.push(JSON.parse(JSON.stringify(type.fromBuffer(message.value))) as SessionAction);
      },
    });

    toy = await startToyApp({ tokenSecret: secret });
    standIn = await startStandInEvaluate(rule);
    proxy = await startProxy({
      upstream: toy.url,
      tokenSecret: secret,
      brokers: KAFKA_BROKERS,
      actionsTopic: topics.actions,
      decisionsTopic: topics.decisions,
      engineUrl: standIn.url,
      engineToken: ENGINE_TOKEN,
      inlineTimeoutMs: INLINE_TIMEOUT_MS,
    });
  });

  after(async () => {
    await proxy?.close();
    await toy?.close();
    await standIn?.app.close();
    await collector?.disconnect();
    await deleteTopics(admin, Object.values(topics));
    await producer.disconnect();
    await admin.disconnect();
  });

  const call = (
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: object,
    bearer = token,
  ) =>
    fetch(`${proxy.url}${path}`, {
      method,
      headers: {
        ...headers,
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });

  /** The actions published for the session so far (waits until there are `n`). */
  async function actions(n: number): Promise<SessionAction[]> {
    await proxy.flush();
    const deadline = Date.now() + 15_000;
    for (;;) {
      const mine = published.filter((a) => a.session_id === sid);
      if (mine.length >= n || Date.now() > deadline) return mine;
      await sleep(50);
    }
  }

  it('login: a login action with the session from the app’s answer and the client from the request', async () => {
    const res = await call(
      'POST',
      '/login',
      LAPTOP,
      { user: 'alice', password: 'alice-pw', mfa: TOY_STEP_UP_CODE },
      '',
    );
    assert.equal(res.status, 200);
    const body = (await res.json()) as { token: string; session_id: string };
    token = body.token;
    sid = body.session_id;
    const [login] = await actions(1);
    assert.ok(login);
    assert.match(login.event_id, /^[0-9a-f-]{36}$/);
    assert.ok(Math.abs(login.ts - Date.now()) < 10_000);
    assert.deepEqual(
      { ...login, event_id: '', ts: 0 },
      {
        event_id: '',
        ts: 0,
        session_id: sid,
        user_id: 'alice',
        principal_type: 'EMPLOYEE',
        app: 'toy-crm',
        action: 'login',
        resource: null,
        records: null,
        mfa: true,
        client: {
          ip: '198.51.100.7',
          asn: 7922,
          country: 'US',
          lat: 40.71,
          lon: -74.01,
          user_agent: LAPTOP['user-agent'],
          ja4: LAPTOP['x-ja4'],
          device_id: 'laptop-1',
          accept_language: 'en-US,en;q=0.9',
        },
      },
    );
    assert.equal(standIn.calls.length, 0, 'a login is not held');
  });

  it('an ordinary request from the same client goes straight to the app', async () => {
    const res = await call('GET', '/records', LAPTOP);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { records: unknown[] }).records.length, 5);
    const [, view] = await actions(2);
    assert.deepEqual(
      [view?.action, view?.resource, view?.records, view?.mfa],
      ['view', 'records', null, null],
    );
    assert.equal(standIn.calls.length, 0);
  });

  it('a sensitive action waits for the engine; ALLOW forwards it; the same event goes to Kafka', async () => {
    const res = await call('GET', '/export?rows=3', LAPTOP);
    assert.equal(res.status, 200);
    assert.equal((await res.text()).trim().split('\n').length, 4);
    assert.equal(standIn.calls.length, 1);
    const asked = standIn.calls[0]!;
    assert.deepEqual([asked.action, asked.records, asked.session_id], ['export', 3, sid]);
    const all = await actions(3);
    assert.deepEqual(all[2], asked, 'published exactly what was evaluated (the engine dedupes by event_id)');
  });

  it('BLOCK_ACTION from the engine: 403 now, and the next export is refused locally', async () => {
    const res = await call('GET', '/export?rows=5000', LAPTOP);
    assert.equal(res.status, 403);
    const body = (await res.json()) as { error: string; decision: string; reasons: string[] };
    assert.deepEqual(
      [body.error, body.decision, body.reasons],
      ['action_blocked', 'BLOCK_ACTION', ['STAND_IN_RULE']],
    );
    const calls = standIn.calls.length;
    assert.equal((await call('GET', '/export?rows=1', LAPTOP)).status, 403);
    assert.equal(standIn.calls.length, calls, 'refused from the local state, no engine call');
    assert.equal((await call('GET', '/records', LAPTOP)).status, 200, 'only export is blocked');
    const all = await actions(6);
    assert.deepEqual(
      all.slice(3).map((a) => [a.action, a.records]),
      [
        ['export', 5000],
        ['export', 1],
        ['view', null],
      ],
      'refused attempts are published too',
    );
    const encoded = await call('GET', '/%65xport?rows=1', LAPTOP);
    assert.equal(encoded.status, 403, 'an encoded path is still the export route');
  });

  it('a changed fingerprint waits for the engine; STEP_UP: 401 challenge, then refused locally', async () => {
    const res = await call('GET', '/records', STOLEN);
    assert.equal(res.status, 401);
    assert.match(
      String(res.headers.get('www-authenticate')),
      /^Bearer error="insufficient_user_authentication"/,
    );
    const body = (await res.json()) as { error: string; step_up_url: string };
    assert.deepEqual([body.error, body.step_up_url], ['step_up_required', '/step-up']);
    const asked = standIn.calls.at(-1)!;
    assert.deepEqual(
      [asked.client.ip, asked.client.user_agent, asked.client.asn],
      ['203.0.113.99', 'curl/8.5.0', 14061],
    );
    const calls = standIn.calls.length;
    assert.equal((await call('GET', '/records', STOLEN)).status, 401);
    assert.equal(standIn.calls.length, calls, 'same fingerprint as last time: local state only');
  });

  it('step-up: a wrong code is step_up_failed; the right one lifts the step-up at once', async () => {
    const wrong = await call('POST', '/step-up', LAPTOP, { code: 'nope' });
    assert.equal(wrong.status, 401);
    assert.deepEqual(await wrong.json(), { error: 'invalid_code' });
    assert.equal((await call('GET', '/records', LAPTOP)).status, 401);

    const right = await call('POST', '/step-up', LAPTOP, { code: TOY_STEP_UP_CODE });
    assert.equal(right.status, 200);
    assert.deepEqual(await right.json(), { ok: true });
    const evaluated = standIn.calls.at(-1)!;
    assert.equal(evaluated.action, 'step_up_passed');
    assert.equal((await call('GET', '/records', LAPTOP)).status, 200, 'no wait for the decisions topic');

    const all = await actions(12);
    const steps = all.filter((a) => a.action.startsWith('step_up'));
    assert.deepEqual(
      steps.map((a) => a.action),
      ['step_up_failed', 'step_up_passed'],
    );
    assert.equal(steps[1]!.event_id, evaluated.event_id);
  });

  it('no answer in time: a sensitive action fails closed (503), an ordinary one fails open', async () => {
    const t0 = Date.now();
    const closed = await call('POST', '/approve/slow', LAPTOP);
    assert.equal(closed.status, 503);
    assert.deepEqual(await closed.json(), { error: 'risk_check_unavailable', reason: 'timeout' });
    assert.ok(Date.now() - t0 < 1400, 'answered at the inline timeout, not when the engine did');
    const open = await call('GET', '/records', { ...LAPTOP, 'user-agent': 'slow-agent' });
    assert.equal(open.status, 200);
    const approve = await call('POST', '/approve/inv-7', LAPTOP);
    assert.equal(approve.status, 200);
    assert.deepEqual(await approve.json(), { approved: 'inv-7', by: 'alice' });
    assert.ok(proxy.stats().inline.failedClosed >= 1);
  });

  it('a TERMINATE on the decisions topic reaches the proxy', async () => {
    const d: Decision = {
      decision_id: `t-${sid}`,
      event_id: `e-${sid}`,
      session_id: sid,
      user_id: 'alice',
      app: 'toy-crm',
      event_ts: Date.now(),
      decided_at: Date.now(),
      decision: 'TERMINATE',
      score: 0.99,
      model_version: 'm',
      reasons: [{ code: 'CONCURRENT_FINGERPRINTS', detail: 'x', weight: 1 }],
      action: 'view',
    };
    await producer.send({
      topic: topics.decisions,
      messages: [{ key: sid, value: encodeDecision(d, 'avro') }],
    });
    await proxy.enforcer.waitFor((x) => x.decision_id === d.decision_id);
    const res = await call('GET', '/records', LAPTOP);
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: string }).error, 'session_terminated');
  });

  /** Waits until the collector has read everything on the actions topic; returns how much that is. */
  async function settled(): Promise<number> {
    await proxy.flush();
    for (;;) {
      const ends = await admin.fetchTopicOffsets(topics.actions);
      const total = ends.reduce((n, p) => n + Number(p.offset), 0);
      if (published.length >= total) return total;
      await sleep(50);
    }
  }

  it('requests without a valid session pass to the app and are not published', async () => {
    const before = await settled();
    assert.equal((await call('GET', '/records', LAPTOP, undefined, '')).status, 401);
    const forged = signToken({ sid, sub: 'alice', typ: 'ADMIN', mfa: true, iat: 0 }, 'not-the-secret');
    assert.equal((await call('POST', '/admin/config', LAPTOP, {}, forged)).status, 401);
    assert.equal((await call('POST', '/login', LAPTOP, { user: 'alice', password: 'x' }, '')).status, 401);
    assert.equal(await settled(), before);
    assert.equal(published.length, before);
  });
});

describe('enforcer example proxy: who is trusted for client addresses', () => {
  const secret = 'k';
  let toy: Running;
  before(async () => {
    toy = await startToyApp({ tokenSecret: secret });
  });
  after(() => toy.close());

  it('X-Forwarded-For and edge headers count only from a trusted hop', async () => {
    const sent: SessionAction[] = [];
    const state = new SessionEnforcement();
    const { app } = buildProxy({
      upstream: toy.url,
      tokenSecret: secret,
      trustedProxies: ['10.0.0.0/8'],
      enforcer: { state, check: (s, a) => state.check(s, a), apply: (d) => state.apply(d) },
      publish: (a) => sent.push(a),
    });
    const login = await app.inject({
      method: 'POST',
      url: '/login',
      payload: { user: 'carol', password: 'carol-pw' },
    });
    const tok = login.json<{ token: string }>().token;
    const headers = {
      authorization: `Bearer ${tok}`,
      'x-forwarded-for': '198.51.100.7',
      'x-client-asn': '7922',
      'x-ja4': 'j',
    };
    await app.inject({ url: '/records', headers, remoteAddress: '203.0.113.5' });
    await app.inject({ url: '/records', headers, remoteAddress: '10.1.1.1' });
    await app.close();
    assert.deepEqual(
      sent.map((a) => [a.action, a.principal_type, a.client.ip, a.client.asn, a.client.ja4]),
      [
        ['login', 'CONTRACTOR', '127.0.0.1', null, null],
        ['view', 'CONTRACTOR', '203.0.113.5', null, null],
        ['view', 'CONTRACTOR', '198.51.100.7', 7922, 'j'],
      ],
    );
  });
});
