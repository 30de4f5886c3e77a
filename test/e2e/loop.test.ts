import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCaepReceiver, type RunningReceiver } from '../../src/caep/receiver';
import type { RunningEngine } from '../../src/cli/run';
import type { Decision } from '../../src/contract';
import { startProxy, type RunningProxy } from '../../src/enforcer/example/proxy';
import { TOY_STEP_UP_CODE, startToyApp, type Running } from '../../src/enforcer/example/toy-app';
import { startTestEngine } from '../helpers/engine';
import { Sandbox } from '../helpers/sandbox';
import { KAFKA_BROKERS, freePort } from '../helpers/services';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const ENGINE_TOKEN = 'loop-test-engine-token-0123456789';

/** The victim's laptop at home, as the TLS-terminating edge in front of the proxy reports it. */
const LAPTOP = {
  'user-agent':
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'x-forwarded-for': '73.22.10.5',
  'x-ja4': 't13d1516h2_8daaf6152771_02713d6af862',
  'x-device-id': 'laptop-1',
  'x-client-asn': '7922',
  'x-client-country': 'US',
  'x-client-lat': '40.71',
  'x-client-lon': '-74.0',
  'accept-language': 'en-US,en;q=0.9',
};
/** The stolen session token, replayed by a script from a hosting network abroad. */
const ATTACKER = {
  'user-agent': 'python-requests/2.31.0',
  'x-forwarded-for': '45.77.1.9',
  'x-ja4': 't13d1711h2_5b57614c22b0_3d5424432f57',
  'x-client-asn': '20473',
  'x-client-country': 'NL',
  'x-client-lat': '52.37',
  'x-client-lon': '4.89',
};

describe('the whole loop: engine, example proxy, toy app, CAEP receiver (real Kafka and Redis)', function () {
  this.timeout(120_000);
  const secret = randomBytes(16).toString('hex');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-loop-'));
  const sb = new Sandbox('loop', {
    topics: ['actionsTopic', 'decisionsTopic', 'deadLetterTopic'],
    partitions: 2,
  });
  const t = sb.topics;
  let engine: RunningEngine;
  let receiver: RunningReceiver;
  let toy: Running;
  let proxy: RunningProxy;
  let issuer = '';

  before(async () => {
    await sb.setUp();
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    receiver = await startCaepReceiver({
      jwksUrl: `${issuer}/.well-known/jwks.json`,
      issuer,
      audience: 'https://idp.example.test',
    });
    engine = await startTestEngine(
      sb.settings({
        http: { port, tokens: ENGINE_TOKEN },
        caep: {
          enabled: true,
          keyFile: path.join(dir, 'caep-key.json'),
          receivers: [{ url: receiver.url, audience: 'https://idp.example.test' }],
          retryInitial: '100ms',
          pollInterval: '50ms',
        },
      }),
    );
    toy = await startToyApp({ tokenSecret: secret });
    proxy = await startProxy({
      upstream: toy.url,
      tokenSecret: secret,
      brokers: KAFKA_BROKERS,
      actionsTopic: t.actionsTopic,
      decisionsTopic: t.decisionsTopic,
      engineUrl: issuer,
      engineToken: ENGINE_TOKEN,
      inlineTimeoutMs: 1000,
    });
  });

  after(async () => {
    await proxy?.close();
    await toy?.close();
    await engine?.stop();
    await receiver?.close();
    await sb.tearDown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const call = (method: string, url: string, headers: Record<string, string>, token: string, body?: object) =>
    fetch(`${proxy.url}${url}`, {
      method,
      headers: {
        ...headers,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
  const login = async () => {
    const res = await call('POST', '/login', LAPTOP, '', {
      user: 'alice',
      password: 'alice-pw',
      mfa: TOY_STEP_UP_CODE,
    });
    assert.equal(res.status, 200);
    return (await res.json()) as { token: string; session_id: string };
  };

  it('a replayed token is stopped at its first request and the session revoked; the victim steps up in her new session and works on', async () => {
    // The victim works normally.
    const first = await login();
    for (const url of ['/records', '/records', '/export?rows=40', '/records'])
      assert.equal((await call('GET', url, LAPTOP, first.token)).status, 200, url);

    // The attacker replays her token: the proxy holds the request for the engine, which terminates.
    const started = performance.now();
    const replay = await call('GET', '/records', ATTACKER, first.token);
    const heldMs = performance.now() - started;
    assert.equal(replay.status, 403);
    assert.equal(((await replay.json()) as { error: string }).error, 'session_terminated');
    assert.equal((await call('GET', '/export?rows=5000', ATTACKER, first.token)).status, 403);
    // The session is revoked for the victim too (the identity provider is told below).
    assert.equal((await call('GET', '/records', LAPTOP, first.token)).status, 403);

    // The identity provider's receiver got a verified session-revoked for that session.
    const [revoked] = await receiver.waitFor(1, 30_000);
    assert.ok(revoked);
    assert.equal(revoked.event, `${CAEP}session-revoked`);
    assert.deepEqual(revoked.subId, {
      format: 'complex',
      session: { format: 'opaque', id: first.session_id },
      user: { format: 'opaque', id: 'alice' },
    });
    assert.equal(revoked.header.typ, 'secevent+jwt');
    assert.equal(revoked.iss, issuer);
    assert.equal(revoked.aud, 'https://idp.example.test');

    // She signs in again; a mass export is held for a step-up (RFC 9470 challenge).
    const second = await login();
    const big = await call('GET', '/export?rows=20000', LAPTOP, second.token);
    assert.equal(big.status, 401);
    assert.match(big.headers.get('www-authenticate') ?? '', /insufficient_user_authentication/);
    const sets = await receiver.waitFor(2, 30_000);
    assert.deepEqual(
      sets.map((s) => [s.event, (s.subId.session as { id: string }).id]),
      [
        [`${CAEP}session-revoked`, first.session_id],
        [`${CAEP}assurance-level-change`, second.session_id],
      ],
      'one session-revoked per session, however many of its actions are answered TERMINATE afterwards',
    );

    // She passes the step-up; the export and her normal work go through.
    const stepUp = await call('POST', '/step-up', LAPTOP, second.token, { code: TOY_STEP_UP_CODE });
    assert.equal(stepUp.status, 200);
    assert.equal((await call('GET', '/export?rows=20000', LAPTOP, second.token)).status, 200);
    for (const url of ['/records', '/export?rows=200', '/records'])
      assert.equal((await call('GET', url, LAPTOP, second.token)).status, 200, url);

    // The decisions topic carries the evidence: the termination and the passed step-up.
    const mine = (ds: Decision[]) =>
      ds.filter((d) => d.session_id === first.session_id || d.session_id === second.session_id);
    const decisions = mine(
      // Both sessions' decisions: they may sit on different partitions, read in any order.
      await sb.decisions(
        t.decisionsTopic,
        (ds) =>
          mine(ds).some((d) => d.action === 'step_up_passed') &&
          mine(ds).some((d) => d.decision === 'TERMINATE' && d.session_id === first.session_id),
      ),
    );
    // Terminated once (later actions are answered from the terminated state), and the SET names that decision.
    const terminations = decisions.filter(
      (d) =>
        d.decision === 'TERMINATE' &&
        d.session_id === first.session_id &&
        d.policy_rule !== 'friction.terminated',
    );
    assert.equal(terminations.length, 1, JSON.stringify(terminations));
    const terminate = terminations[0]!;
    assert.equal(revoked.txn, terminate.decision_id);
    assert.ok(terminate.reasons.length > 0);
    assert.ok(decisions.some((d) => d.session_id === second.session_id && d.decision === 'STEP_UP'));
    // No decision published twice, although the proxy also sent every action to Kafka.
    assert.equal(new Set(decisions.map((d) => d.decision_id)).size, decisions.length);
    process.stdout.write(`      the replayed request was held ${heldMs.toFixed(1)} ms before its 403\n`);
  });
});
