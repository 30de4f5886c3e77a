import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChildEngine } from '../helpers/engine';
import { action } from '../helpers/fixtures';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis-server';
import { Sandbox, topicSettings } from '../helpers/sandbox';

describe('the logs and metrics of `risk-stream run` (the compiled CLI) hold no secrets', function () {
  this.timeout(120_000);
  const sb = new Sandbox('logs', { topics: topicSettings(), partitions: 1 });
  const redisUser = { name: 'rs-logs', password: 'redis-pass-0123456789' };
  let redis: PrivateRedis;

  before(async () => {
    await sb.setUp();
    // A Redis of the test's own that takes only an ACL user, so the Redis password is really used.
    redis = await startPrivateRedis([redisUser]);
  });
  after(async () => {
    await redis?.stop();
    await sb.tearDown();
  });

  it('start-up, accepted and refused requests on every API, and shutdown at debug level: no token, password or CAEP credential in the output or /metrics', async () => {
    const secrets = {
      token: 'http-token-0123456789abcdef',
      token2: 'http-token-fedcba9876543210',
      analystToken: 'analyst-token-0123456789abcdef',
      adminToken: 'admin-token-0123456789abcdef-xyz',
      redisPassword: redisUser.password,
      // In redis.url, overridden by redis.password: sent nowhere, printed nowhere.
      redisUrlPassword: 'redis-url-pass-0123456789',
      caepQuery: 'caep-query-0123456789',
      caepAuth: 'caep-auth-0123456789abcdef',
    };
    // Tokens callers presented that are not valid: not echoed either.
    const presented = {
      wrongInline: 'wrong-inline-token-0123456789',
      wrongAnalyst: 'wrong-analyst-token-0123456789',
      wrongAdmin: 'wrong-admin-token-0123456789',
    };
    const session = 'sess-logs-7b1e0c2d9f';
    const dir = mkdtempSync(join(tmpdir(), 'rs-logs-'));
    const analystFile = join(dir, 'analyst-tokens');
    writeFileSync(analystFile, `# analysts\n${secrets.analystToken}\n`, { mode: 0o600 });
    const engine = await startChildEngine({
      until: 'running',
      env: sb.env({
        RISK_STREAM_REDIS_URL: `redis://${redisUser.name}:${secrets.redisUrlPassword}@127.0.0.1:${redis.port}`,
        RISK_STREAM_REDIS_PASSWORD: secrets.redisPassword,
        RISK_STREAM_HTTP_TOKENS: `${secrets.token},${secrets.token2}`,
        RISK_STREAM_HTTP_ANALYST_TOKENS_FILE: analystFile,
        RISK_STREAM_HTTP_ADMIN_TOKENS: secrets.adminToken,
        RISK_STREAM_CAEP_ENABLED: 'true',
        RISK_STREAM_CAEP_KEY_FILE: join(dir, 'caep.json'),
        RISK_STREAM_CAEP_RECEIVERS: JSON.stringify([
          {
            url: `https://idp.example.com/caep?access_token=${secrets.caepQuery}`,
            audience: 'https://idp.example.com',
            authorization: `Bearer ${secrets.caepAuth}`,
          },
        ]),
        RISK_STREAM_LOG_LEVEL: 'debug',
      }),
    });
    let scraped: string | undefined;
    try {
      const call = (path: string, token: string | null, init: RequestInit = {}) =>
        fetch(`${engine.url}${path}`, {
          ...init,
          headers: {
            ...(token === null ? {} : { authorization: `Bearer ${token}` }),
            ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
          },
        });
      const post = (body: string) => ({ method: 'POST', body });
      // The inline API: a decided action, a body it refuses, a wrong token.
      const decided = await call(
        '/v1/evaluate',
        secrets.token,
        post(JSON.stringify(action({ session_id: session, ts: Date.now() }))),
      );
      assert.equal(decided.status, 200, await decided.text());
      assert.equal((await call('/v1/evaluate', secrets.token2, post('{"event_id": 42}'))).status, 400);
      assert.equal((await call('/v1/evaluate', presented.wrongInline, post('{}'))).status, 401);
      // The analyst API: its token reads, a wrong one is refused.
      assert.equal((await call(`/v1/sessions/${session}/timeline`, secrets.analystToken)).status, 200);
      assert.equal((await call('/v1/decisions', secrets.adminToken)).status, 200);
      assert.equal((await call(`/v1/sessions/${session}`, presented.wrongAnalyst)).status, 401);
      // /admin/*: a wrong token 401, an analyst token 403, the admin token reloads.
      assert.equal(
        (await call('/admin/policy/reload', presented.wrongAdmin, { method: 'POST' })).status,
        401,
      );
      assert.equal(
        (await call('/admin/policy/reload', secrets.analystToken, { method: 'POST' })).status,
        403,
      );
      assert.equal((await call('/admin/policy/reload', secrets.adminToken, { method: 'POST' })).status, 200);

      scraped = await (await call('/metrics', null)).text();
      assert.equal(await engine.stop(), 0, engine.output);
    } finally {
      engine.kill();
    }
    const output = engine.output;
    const metrics = scraped ?? '';
    assert.match(output, /"evaluate":"authenticated"/);
    assert.match(output, /"msg":"CAEP transmitter ready"/);
    assert.match(output, /"url":"https:\/\/idp\.example\.com\/caep\?access_token=\*\*\*"/);
    for (const [what, secret] of Object.entries({ ...secrets, ...presented })) {
      assert.ok(!output.includes(secret), `${what} leaked into the output`);
      assert.ok(!metrics.includes(secret), `${what} leaked into /metrics`);
    }
    // Refusals are counted by API and status, and nothing more specific.
    for (const [route, status, n] of [
      ['evaluate', '401', 1],
      ['analyst', '401', 1],
      ['admin', '401', 1],
      ['admin', '403', 1],
    ] as const) {
      assert.match(
        metrics,
        new RegExp(
          `^riskstream_http_auth_failures_total\\{route="${route}",status="${status}"\\} ${n}$`,
          'm',
        ),
      );
    }
    assert.ok(!metrics.includes(session), 'a session id is a label value');
  });
});
