import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { envName, settingPaths } from '../../src/config/load';
import {
  KAFKA_BROKERS,
  REDIS_URL,
  createTopics,
  deleteKeys,
  deleteTopics,
  freePort,
  testKafka,
  testRedis,
  uniqueName,
} from '../helpers/services';

const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'bin/risk-stream.js');

describe('the logs of `risk-stream run` (the compiled CLI) hold no secrets', function () {
  this.timeout(120_000);
  const admin = testKafka().admin();
  const topicEnv = Object.fromEntries(
    settingPaths()
      .filter(([section, leaf]) => section === 'kafka' && leaf.endsWith('Topic'))
      .map(([section, leaf]) => [envName([section, leaf]), uniqueName(`logs-${leaf}`)]),
  );
  const prefix = `${uniqueName('rs-logs')}:`;

  before(async () => {
    await admin.connect();
    await createTopics(admin, Object.values(topicEnv), 1);
  });

  after(async () => {
    await deleteTopics(admin, Object.values(topicEnv));
    await admin.disconnect();
    const redis = testRedis();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

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
    const port = await freePort();
    const engine = spawn(process.execPath, [BIN, 'run', '--port', String(port)], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...topicEnv,
        RISK_STREAM_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
        RISK_STREAM_KAFKA_GROUP_ID: uniqueName('logs-group'),
        RISK_STREAM_REDIS_URL: redisUrl.toString(),
        RISK_STREAM_REDIS_KEY_PREFIX: prefix,
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
      },
    });
    let output = '';
    engine.stdout.on('data', (c: Buffer) => (output += c.toString()));
    engine.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((r) => engine.on('exit', (code) => r(code)));
    try {
      for (let i = 0; i < 120 && !output.includes('"msg":"engine running"'); i++) {
        if (engine.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.match(output, /"msg":"engine running"/);
      // An authenticated request with a body the engine refuses.
      const res = await fetch(`http://127.0.0.1:${port}/v1/evaluate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secrets.token}`, 'content-type': 'application/json' },
        body: '{"event_id": 42}',
      });
      assert.equal(res.status, 400);
      engine.kill('SIGTERM');
      assert.equal(await exited, 0, output);
    } finally {
      if (engine.exitCode === null) engine.kill('SIGKILL');
    }
    assert.match(output, /"evaluate":"authenticated"/);
    assert.match(output, /"msg":"CAEP transmitter ready"/);
    assert.match(output, /"url":"https:\/\/idp\.example\.com\/caep\?access_token=\*\*\*"/);
    for (const [what, secret] of Object.entries(secrets))
      assert.ok(!output.includes(secret), `${what} leaked`);
  });
});
