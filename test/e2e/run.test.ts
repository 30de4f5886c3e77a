import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Decision } from '../../src/contract';
import { decodeDecision } from '../../src/emit/encode';
import {
  KAFKA_BROKERS,
  REDIS_URL,
  collect,
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

describe('risk-stream run (the CLI process) on real Kafka and Redis', function () {
  this.timeout(180_000);
  const kafka = testKafka();
  const admin = kafka.admin();
  const topics = {
    actions: uniqueName('run-actions'),
    decisions: uniqueName('run-decisions'),
    dlq: uniqueName('run-dlq'),
  };
  const prefix = `${uniqueName('rs-run')}:`;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    await admin.connect();
    await createTopics(admin, Object.values(topics));
    env = {
      ...process.env,
      RISK_STREAM_KAFKA_BROKERS: KAFKA_BROKERS.join(','),
      RISK_STREAM_KAFKA_ACTIONS_TOPIC: topics.actions,
      RISK_STREAM_KAFKA_DECISIONS_TOPIC: topics.decisions,
      RISK_STREAM_KAFKA_DEAD_LETTER_TOPIC: topics.dlq,
      RISK_STREAM_KAFKA_GROUP_ID: uniqueName('run-group'),
      RISK_STREAM_KAFKA_EMIT_ALLOW: 'true',
      RISK_STREAM_REDIS_URL: REDIS_URL,
      RISK_STREAM_REDIS_KEY_PREFIX: prefix,
      RISK_STREAM_LOG_LEVEL: 'info',
    };
  });

  after(async () => {
    await deleteTopics(admin, Object.values(topics));
    await admin.disconnect();
    const redis = testRedis();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('becomes ready, decides live traffic from `simulate --to-kafka`, and shuts down cleanly on SIGTERM', async () => {
    const port = await freePort();
    const engine = spawn(process.execPath, [BIN, 'run', '--port', String(port)], { cwd: ROOT, env });
    let logs = '';
    engine.stderr.on('data', (c: Buffer) => (logs += c.toString()));
    const exited = new Promise<number | null>((r) => engine.on('exit', (code) => r(code)));

    try {
      let ready = false;
      for (let i = 0; i < 120 && !ready; i++) {
        await new Promise((r) => setTimeout(r, 500));
        try {
          ready = (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
        } catch {
          // not listening yet
        }
      }
      assert.ok(ready, `engine never became ready:\n${logs}`);

      const sim = spawnSync(
        process.execPath,
        [BIN, 'simulate', '--to-kafka', '--rate', '400', '--limit', '1000', '--seed', '9'],
        {
          cwd: ROOT,
          env,
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      assert.equal(sim.status, 0, sim.stderr);

      const decisions = await collect<Decision>(
        kafka,
        topics.decisions,
        decodeDecision,
        (d) => d.length >= 1000,
        60_000,
      );
      assert.equal(decisions.length, 1000);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /riskstream_events_total\{source="kafka"\} 1000\b/);
      assert.match(metrics, /riskstream_ready 1\b/);

      engine.kill('SIGTERM');
      assert.equal(await exited, 0, logs);
    } finally {
      // A failed assertion must not leave an engine running.
      if (engine.exitCode === null) engine.kill('SIGKILL');
    }
    assert.match(logs, /"msg":"shutting down: finishing the batch in flight"/);
    assert.match(logs, /"msg":"stopped"/);
  });

  it('fails start-up naming redis.url when Redis cannot be reached (password masked)', () => {
    const r = spawnSync(process.execPath, [BIN, 'run'], {
      cwd: ROOT,
      env: { ...env, RISK_STREAM_REDIS_URL: 'redis://user:secret@127.0.0.1:1' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot reach Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:1 \(redis\.url\)/);
    assert.doesNotMatch(r.stderr, /secret/);
  });

  it('fails start-up naming kafka.actionsTopic when the input topic does not exist', () => {
    const r = spawnSync(process.execPath, [BIN, 'run'], {
      cwd: ROOT,
      env: { ...env, RISK_STREAM_KAFKA_ACTIONS_TOPIC: uniqueName('missing') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /input topic ".*" does not exist .*\(kafka\.actionsTopic\)/);
  });
});
