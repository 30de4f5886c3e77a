import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChildEngine } from '../helpers/engine';
import { Sandbox, topicSettings } from '../helpers/sandbox';
import { REDIS_URL } from '../helpers/services';

describe('the logs of `risk-stream run` (the compiled CLI) hold no secrets', function () {
  this.timeout(120_000);
  const sb = new Sandbox('logs', { topics: topicSettings(), partitions: 1 });

  before(() => sb.setUp());
  after(() => sb.tearDown());

  it('start-up, a request and shutdown at debug level: no bearer token, Redis password or CAEP credential', async () => {
    const redisUrl = new URL(REDIS_URL);
    // The test Redis needs no password: one given anyway is sent (and ignored), so it must stay out of the logs.
    if (!redisUrl.password) redisUrl.password = 'redis-pass-0123456789';
    const secrets = {
      token: 'http-token-0123456789abcdef',
      token2: 'http-token-fedcba9876543210',
      redisPassword: decodeURIComponent(redisUrl.password),
      caepQuery: 'caep-query-0123456789',
      caepAuth: 'caep-auth-0123456789abcdef',
    };
    const engine = await startChildEngine({
      until: 'running',
      env: sb.env({
        RISK_STREAM_REDIS_URL: redisUrl.toString(),
        RISK_STREAM_HTTP_TOKENS: `${secrets.token},${secrets.token2}`,
        RISK_STREAM_CAEP_ENABLED: 'true',
        RISK_STREAM_CAEP_KEY_FILE: join(mkdtempSync(join(tmpdir(), 'rs-logs-')), 'caep.json'),
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
    try {
      // An authenticated request with a body the engine refuses.
      const res = await fetch(`${engine.url}/v1/evaluate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secrets.token}`, 'content-type': 'application/json' },
        body: '{"event_id": 42}',
      });
      assert.equal(res.status, 400);
      assert.equal(await engine.stop(), 0, engine.output);
    } finally {
      engine.kill();
    }
    const output = engine.output;
    assert.match(output, /"evaluate":"authenticated"/);
    assert.match(output, /"msg":"CAEP transmitter ready"/);
    assert.match(output, /"url":"https:\/\/idp\.example\.com\/caep\?access_token=\*\*\*"/);
    for (const [what, secret] of Object.entries(secrets))
      assert.ok(!output.includes(secret), `${what} leaked`);
  });
});
