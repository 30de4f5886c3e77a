import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { SignJWT, generateKeyPair, importJWK } from 'jose';
import type { JWK, JWTHeaderParameters, JWTPayload } from 'jose';
import { startCaepReceiver } from '../../src/caep';
import type { RunningReceiver } from '../../src/caep';
import type { SigningKey } from '../../src/caep/keys';
import { loadSigningKey } from '../../src/caep/keys';
import { CAEP_EVENT_PREFIX, buildSet } from '../../src/caep/set';
import type { SetClaims } from '../../src/caep/set';
import type { Decision } from '../../src/contract';
import { freePort } from '../helpers/services';

const AUD = 'https://idp.example.com';

const decision: Decision = {
  decision_id: 'dec-1',
  event_id: 'ev-1',
  session_id: 'sess-1',
  user_id: 'user-1',
  app: 'jira',
  event_ts: 1_760_000_000_000,
  decided_at: 1_760_000_000_000,
  decision: 'STEP_UP',
  score: 0.7,
  model_version: '2.0.0',
  reasons: [],
};

describe('caep: the test receiver refuses what a real receiver must refuse (RFC 8935 §2.3)', function () {
  this.timeout(20_000);
  let dir: string;
  let key: SigningKey;
  let jwksApp: FastifyInstance;
  let issuer: string;
  let rx: RunningReceiver;
  let jti = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'caep-rx-'));
    key = await loadSigningKey(join(dir, 'key.json'), 'ES256');
    jwksApp = Fastify();
    jwksApp.get('/.well-known/jwks.json', () => ({ keys: [key.publicJwk] }));
    issuer = await jwksApp.listen({ port: 0, host: '127.0.0.1' });
    rx = await startCaepReceiver({
      jwksUrl: `${issuer}/.well-known/jwks.json`,
      issuer,
      audience: AUD,
      authorization: 'Bearer t',
    });
  });

  after(async () => {
    await rx.close();
    await jwksApp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Valid claims with a fresh jti. */
  const claims = (): SetClaims => {
    const set = buildSet(decision, { audience: AUD }, issuer, Math.floor(Date.now() / 1000))!;
    return { ...set.claims, jti: `jti-${++jti}` };
  };

  const post = async (body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(rx.url, {
      method: 'POST',
      headers: { 'content-type': 'application/secevent+jwt', authorization: 'Bearer t', ...headers },
      body,
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text ? (JSON.parse(text) as { err: string; description: string }) : null,
    };
  };

  /** Signs with the transmitter's own key but a header of the test's choosing. */
  const signOwn = async (payload: object, header: JWTHeaderParameters) => {
    const jwk = JSON.parse(readFileSync(join(dir, 'key.json'), 'utf8')) as JWK;
    return new SignJWT(payload as JWTPayload).setProtectedHeader(header).sign(await importJWK(jwk, 'ES256'));
  };

  /** Signs with a key the JWKS does not hold. */
  const signWith = async (payload: object, header: Record<string, string> = {}) =>
    new SignJWT(payload as JWTPayload)
      .setProtectedHeader({ alg: 'ES256', typ: 'secevent+jwt', kid: key.kid, ...header })
      .sign((await generateKeyPair('ES256')).privateKey);

  it('accepts a valid SET with 202 and records it', async () => {
    const c = claims();
    const r = await post(await key.sign(c));
    assert.equal(r.status, 202);
    const got = rx.received.at(-1)!;
    assert.equal(got.jti, c.jti);
    assert.equal(got.event, `${CAEP_EVENT_PREFIX}assurance-level-change`);
  });

  it('refuses a repeated jti', async () => {
    const c = claims();
    assert.equal((await post(await key.sign(c))).status, 202);
    assert.deepEqual(await post(await key.sign(c)), {
      status: 400,
      body: { err: 'invalid_request', description: 'duplicate jti' },
    });
  });

  const refusals: [
    string,
    () => Promise<{ body: string; headers?: Record<string, string> }>,
    number,
    string,
  ][] = [
    [
      'a wrong issuer',
      async () => ({ body: await key.sign({ ...claims(), iss: 'https://evil' }) }),
      400,
      'invalid_issuer',
    ],
    [
      'a wrong audience',
      async () => ({ body: await key.sign({ ...claims(), aud: 'https://other' }) }),
      400,
      'invalid_audience',
    ],
    [
      'an unknown key',
      async () => ({ body: await signWith(claims(), { kid: 'unknown' }) }),
      400,
      'invalid_key',
    ],
    [
      'a forged signature under the right kid',
      async () => ({ body: await signWith(claims()) }),
      400,
      'authentication_failed',
    ],
    [
      'a typ other than secevent+jwt',
      async () => ({ body: await signOwn(claims(), { alg: 'ES256', typ: 'JWT', kid: key.kid }) }),
      400,
      'invalid_request',
    ],
    [
      'no typ',
      async () => ({ body: await signOwn(claims(), { alg: 'ES256', kid: key.kid }) }),
      400,
      'invalid_request',
    ],
    [
      'a sub claim',
      async () => ({ body: await key.sign({ ...claims(), sub: 'u' } as SetClaims) }),
      400,
      'invalid_request',
    ],
    [
      'an event without its required claims',
      async () => {
        const c = claims();
        return {
          body: await key.sign({
            ...c,
            events: { [`${CAEP_EVENT_PREFIX}assurance-level-change`]: {} },
          } as unknown as SetClaims),
        };
      },
      400,
      'invalid_request',
    ],
    [
      'an invalid sub_id',
      async () => ({
        body: await key.sign({ ...claims(), sub_id: { format: 'complex' } } as unknown as SetClaims),
      }),
      400,
      'invalid_request',
    ],
    ['a body that is not a JWT', async () => ({ body: 'hello' }), 400, 'invalid_request'],
    [
      'another content type',
      async () => ({ body: await key.sign(claims()), headers: { 'content-type': 'application/json' } }),
      400,
      'invalid_request',
    ],
    [
      'a wrong Authorization header',
      async () => ({ body: await key.sign(claims()), headers: { authorization: 'Bearer x' } }),
      401,
      'authentication_failed',
    ],
  ];
  for (const [what, make, status, err] of refusals) {
    it(`refuses ${what}: ${status} ${err}`, async () => {
      const before = rx.received.length;
      const { body, headers } = await make();
      const r = await post(body, headers);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body?.err, err);
      assert.ok((r.body?.description ?? '').length > 0);
      assert.equal(rx.received.length, before);
    });
  }

  it('answers 503 (retry later) while the JWKS cannot be fetched, and to the first failFirst pushes', async () => {
    const port = await freePort();
    const offline = await startCaepReceiver({
      jwksUrl: `http://127.0.0.1:${port}/jwks`,
      issuer,
      audience: AUD,
    });
    const flaky = await startCaepReceiver({
      jwksUrl: `${issuer}/.well-known/jwks.json`,
      issuer,
      audience: AUD,
      failFirst: 2,
    });
    try {
      const r = await fetch(offline.url, {
        method: 'POST',
        headers: { 'content-type': 'application/secevent+jwt' },
        body: await key.sign(claims()),
      });
      assert.equal(r.status, 503);
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await fetch(flaky.url, {
          method: 'POST',
          headers: { 'content-type': 'application/secevent+jwt' },
          body: await key.sign(claims()),
        });
        statuses.push(res.status);
      }
      assert.deepEqual(statuses, [503, 503, 202]);
      assert.equal(flaky.requests, 3);
    } finally {
      await offline.close();
      await flaky.close();
    }
  });
});
