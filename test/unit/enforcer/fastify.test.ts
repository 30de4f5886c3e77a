import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Decision } from '../../../src/contract';
import { enforcerHook, stepUpChallenge, type EnforcerHookOptions } from '../../../src/enforcer/fastify';
import { SessionEnforcement } from '../../../src/enforcer/state';

const T0 = 1_760_000_000_000;

function decision(overrides: Partial<Decision>): Decision {
  return {
    decision_id: `d-${Math.random()}`,
    event_id: 'e-1',
    session_id: 's-1',
    user_id: 'u-1',
    app: 'toy-crm',
    event_ts: T0,
    decided_at: T0,
    decision: 'STEP_UP',
    score: 0.8,
    model_version: 'm/1',
    reasons: [
      { code: 'UA_CHANGED', detail: 'Chrome 131 -> curl/8.5', weight: 0.6 },
      { code: 'ASN_CHANGED', detail: 'AS7922 -> AS14061', weight: 0.2 },
    ],
    action: 'view',
    policy_version: null,
    policy_rule: null,
    ...overrides,
  };
}

/** An app behind the hook: the session from `x-session`, the action from the path. */
function appWith(state: SessionEnforcement, extra: Partial<EnforcerHookOptions> = {}): FastifyInstance {
  const app = Fastify();
  app.addHook(
    'onRequest',
    enforcerHook(state, {
      sessionId: (req) => (req.headers['x-session'] as string | undefined) ?? null,
      action: (req) => req.url.slice(1),
      stepUpUrl: '/step-up',
      ...extra,
    }),
  );
  app.get('/*', async () => ({ ok: true }));
  return app;
}

describe('enforcer/fastify enforcerHook', () => {
  let state: SessionEnforcement;
  let app: FastifyInstance;
  beforeEach(() => {
    state = new SessionEnforcement({ now: () => T0 });
    app = appWith(state);
  });
  afterEach(() => app.close());

  const get = (url: string, session: string | null = 's-1') =>
    app.inject({ method: 'GET', url, headers: session === null ? {} : { 'x-session': session } });

  it('lets requests through while nothing is decided, and requests without a session always', async () => {
    assert.equal((await get('/export')).statusCode, 200);
    state.apply(decision({ decision: 'TERMINATE' }));
    assert.equal((await get('/export', null)).statusCode, 200);
    assert.equal((await get('/export', 's-2')).statusCode, 200);
  });

  it('STEP_UP: 401 with an RFC 9470 challenge and a JSON body', async () => {
    const d = decision({ decision: 'STEP_UP' });
    state.apply(d);
    const res = await get('/view');
    assert.equal(res.statusCode, 401);
    assert.equal(
      res.headers['www-authenticate'],
      'Bearer error="insufficient_user_authentication", ' +
        'error_description="A stronger authentication is required for this session", acr_values="mfa"',
    );
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.deepEqual(res.json(), {
      error: 'step_up_required',
      decision: 'STEP_UP',
      decision_id: d.decision_id,
      reasons: ['UA_CHANGED', 'ASN_CHANGED'],
      until: T0 + 15 * 60_000,
      step_up_url: '/step-up',
    });
    assert.equal((await get('/step_up')).statusCode, 200, 'the step-up itself goes through');
  });

  it('STEP_UP lifted by a passed step-up', async () => {
    state.apply(decision({ decision: 'STEP_UP' }));
    assert.equal((await get('/view')).statusCode, 401);
    state.apply(decision({ decision: 'ALLOW', action: 'step_up_passed', decided_at: T0 + 1 }));
    assert.equal((await get('/view')).statusCode, 200);
  });

  it('BLOCK_ACTION: 403 action_blocked for that action only, no challenge', async () => {
    const d = decision({ decision: 'BLOCK_ACTION', action: 'export' });
    state.apply(d);
    const res = await get('/export');
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['www-authenticate'], undefined);
    assert.deepEqual(res.json(), {
      error: 'action_blocked',
      decision: 'BLOCK_ACTION',
      decision_id: d.decision_id,
      reasons: ['UA_CHANGED', 'ASN_CHANGED'],
      until: T0 + 5 * 60_000,
    });
    assert.equal((await get('/view')).statusCode, 200);
  });

  it('TERMINATE: 403 session_terminated for everything', async () => {
    state.apply(decision({ decision: 'TERMINATE' }));
    for (const url of ['/view', '/export', '/step_up', '/logout']) {
      const res = await get(url);
      assert.equal(res.statusCode, 403, url);
      assert.equal(res.json<{ error: string }>().error, 'session_terminated');
    }
  });

  it('exposeReasons and acrValues options', async () => {
    state.apply(decision({ decision: 'STEP_UP' }));
    const full = appWith(state, { exposeReasons: 'full', acrValues: 'phr "x"' });
    const res = await full.inject({ url: '/view', headers: { 'x-session': 's-1' } });
    assert.deepEqual(res.json<{ reasons: unknown }>().reasons, decision({}).reasons);
    assert.match(String(res.headers['www-authenticate']), /acr_values="phr \\"x\\""$/);
    await full.close();
    const none = appWith(state, { exposeReasons: 'none', stepUpUrl: undefined });
    const body = (await none.inject({ url: '/view', headers: { 'x-session': 's-1' } })).json<object>();
    assert.deepEqual((body as { reasons: unknown }).reasons, []);
    assert.equal('step_up_url' in body, false);
    await none.close();
  });

  it('stepUpChallenge quotes its values', () => {
    assert.equal(
      stepUpChallenge('a\\b'),
      'Bearer error="insufficient_user_authentication", ' +
        'error_description="A stronger authentication is required for this session", acr_values="a\\\\b"',
    );
  });
});
