import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli';
import { startChildEngine } from '../helpers/engine';
import { Sandbox } from '../helpers/sandbox';
import { uniqueName } from '../helpers/services';

describe('risk-stream run (the CLI process) on real Kafka and Redis', function () {
  this.timeout(180_000);
  const sb = new Sandbox('run', { topics: ['actionsTopic', 'decisionsTopic', 'deadLetterTopic'] });
  const env = sb.env({ RISK_STREAM_KAFKA_EMIT_ALLOW: 'true', RISK_STREAM_LOG_LEVEL: 'info' });

  before(() => sb.setUp());
  after(() => sb.tearDown());

  it('becomes ready, decides live traffic from `simulate --to-kafka`, and shuts down cleanly on SIGTERM', async () => {
    const engine = await startChildEngine({ env });
    try {
      const sim = runCli(['simulate', '--to-kafka', '--rate', '400', '--limit', '1000', '--seed', '9'], {
        env,
      });
      assert.equal(sim.code, 0, sim.stderr);

      const decisions = await sb.decisions(sb.topics.decisionsTopic, 1000);
      assert.equal(decisions.length, 1000);
      const metrics = await (await fetch(`${engine.url}/metrics`)).text();
      assert.match(metrics, /riskstream_events_total\{source="kafka"\} 1000\b/);
      assert.match(metrics, /riskstream_ready 1\b/);

      assert.equal(await engine.stop(), 0, engine.stderr);
    } finally {
      // A failed assertion must not leave an engine running.
      engine.kill();
    }
    assert.match(engine.stderr, /"msg":"shutting down: finishing the batch in flight"/);
    assert.match(engine.stderr, /"msg":"stopped"/);
  });

  it('fails start-up naming redis.url when Redis cannot be reached (password masked)', () => {
    const r = runCli(['run'], { env: { ...env, RISK_STREAM_REDIS_URL: 'redis://user:secret@127.0.0.1:1' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:1 \(redis\.url\)/);
    assert.doesNotMatch(r.stderr, /secret/);
  });

  it('fails start-up naming kafka.actionsTopic when the input topic does not exist', () => {
    const r = runCli(['run'], { env: { ...env, RISK_STREAM_KAFKA_ACTIONS_TOPIC: uniqueName('missing') } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /input topic ".*" does not exist .*\(kafka\.actionsTopic\)/);
  });
});
