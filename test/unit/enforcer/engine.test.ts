import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Decision, SessionAction } from '../../../src/contract';
import { EngineClient } from '../../../src/enforcer/engine';
import { action } from '../../helpers/fixtures';
import { freePort } from '../../helpers/services';

function decisionFor(a: SessionAction): Decision {
  return {
    decision_id: 'd-1',
    event_id: a.event_id,
    session_id: a.session_id,
    user_id: a.user_id,
    app: a.app,
    event_ts: a.ts,
    decided_at: a.ts + 5,
    decision: 'STEP_UP',
    score: 0.75,
    model_version: 'm/1',
    reasons: [{ code: 'NEW_DEVICE', detail: 'd', weight: 0.5 }],
    action: a.action,
    policy_version: 'p@1#ab',
    policy_rule: 'score',
  };
}

/**
 * A stand-in for the engine's POST /v1/evaluate (NOT the engine): answers what `answer` says, so the
 * client's handling of every status of the contract can be checked.
 */
async function fakeEvaluateEndpoint(
  answer: (a: SessionAction, auth: string | undefined) => { status: number; body: unknown; delayMs?: number },
): Promise<{ app: FastifyInstance; url: string; seen: SessionAction[] }> {
  const app = Fastify();
  const seen: SessionAction[] = [];
  app.post<{ Body: SessionAction }>('/v1/evaluate', async (req, reply) => {
    seen.push(req.body);
    const r = answer(req.body, req.headers.authorization);
    if (r.delayMs) await new Promise((res) => setTimeout(res, r.delayMs));
    return reply.code(r.status).send(r.body);
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, seen };
}

describe('enforcer/engine EngineClient', () => {
  let server: Awaited<ReturnType<typeof fakeEvaluateEndpoint>>;
  let mode: string;

  before(async () => {
    server = await fakeEvaluateEndpoint((a, auth) => {
      if (auth !== 'Bearer t0k')
        return { status: 401, body: { error: 'unauthorized', message: 'bad token' } };
      switch (mode) {
        case 'ok':
          return { status: 200, body: decisionFor(a) };
        case 'v1':
          return { status: 200, body: { ...decisionFor(a), action: undefined, policy_rule: undefined } };
        case 'slow':
          return { status: 200, body: decisionFor(a), delayMs: 600 };
        case 'wrong-event':
          return { status: 200, body: { ...decisionFor(a), event_id: 'other' } };
        case 'not-a-decision':
          return { status: 200, body: { hello: 1 } };
        default:
          return { status: Number(mode), body: { error: 'code_x', message: 'why' } };
      }
    });
  });
  after(() => server.app.close());

  // Generous: a loaded test machine must not turn answers into timeouts (the timeout case passes its own).
  const client = (token = 't0k') => new EngineClient({ url: server.url, token, timeoutMs: 2000 });

  it('warmUp: true once the engine answers /healthz, false when nothing listens', async () => {
    assert.equal(await client().warmUp(), true);
    assert.equal(await new EngineClient({ url: `http://127.0.0.1:${await freePort()}` }).warmUp(), false);
  });

  it('posts the action as contract JSON with the bearer token and returns the Decision', async () => {
    mode = 'ok';
    const a = action({ action: 'export', records: 10 });
    const r = await client().evaluate(a);
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.decision, decisionFor(a));
    assert.deepEqual(server.seen.at(-1), a);
  });

  it('accepts a decision without the v2 fields', async () => {
    mode = 'v1';
    const r = await client().evaluate(action());
    assert.ok(r.ok);
    assert.equal(r.decision.action, null);
  });

  it('maps every failure to an error code, never throws', async () => {
    const cases: [string, string, number | null][] = [
      ['400', 'invalid_input', 400],
      ['413', 'too_large', 413],
      ['503', 'not_ready', 503],
      ['500', 'bad_response', 500],
      ['wrong-event', 'bad_response', 200],
      ['not-a-decision', 'bad_response', 200],
      ['slow', 'timeout', null],
    ];
    for (const [m, error, status] of cases) {
      mode = m;
      const r = await client().evaluate(action(), m === 'slow' ? 150 : undefined);
      assert.equal(r.ok, false, m);
      assert.equal(!r.ok && r.error, error, m);
      assert.equal(!r.ok && r.status, status, m);
    }
    mode = '400';
    const r = await client().evaluate(action());
    assert.equal(!r.ok && r.message, 'code_x: why');
  });

  it('a missing or wrong token is unauthorized', async () => {
    mode = 'ok';
    const r = await client('nope').evaluate(action());
    assert.equal(!r.ok && r.error, 'unauthorized');
  });

  it('nothing listening is unreachable', async () => {
    const port = await freePort();
    const r = await new EngineClient({ url: `http://127.0.0.1:${port}` }).evaluate(action());
    assert.equal(!r.ok && r.error, 'unreachable');
    assert.equal(!r.ok && r.message, 'ECONNREFUSED');
  });
});
