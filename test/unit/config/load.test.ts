import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envName, loadSettings } from '../../../src/config/load';
import { parseDuration } from '../../../src/config/schema';

describe('config/load', () => {
  it('fills defaults and compiles durations to ms', () => {
    const s = loadSettings({ env: {} });
    assert.equal(s.kafka.actionsTopic, 'session-actions');
    assert.equal(s.redis.idleTtl, 12 * 3_600_000);
    assert.equal(s.input.maxFuture, 5 * 60_000);
  });

  it('names environment variables after the setting path', () => {
    assert.equal(envName(['kafka', 'actionsTopic']), 'RISK_STREAM_KAFKA_ACTIONS_TOPIC');
    assert.equal(envName(['redis', 'url']), 'RISK_STREAM_REDIS_URL');
  });

  it('precedence: default < file < env < overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rs-config-'));
    const file = join(dir, 'c.json');
    writeFileSync(
      file,
      JSON.stringify({ kafka: { groupId: 'from-file', clientId: 'file-client' }, redis: { idleTtl: '1h' } }),
    );
    const s = loadSettings({
      file,
      env: { RISK_STREAM_KAFKA_GROUP_ID: 'from-env', RISK_STREAM_KAFKA_BROKERS: 'a:9092, b:9092' },
      overrides: { kafka: { groupId: 'from-flag' } },
    });
    assert.equal(s.kafka.groupId, 'from-flag');
    assert.equal(s.kafka.clientId, 'file-client');
    assert.deepEqual(s.kafka.brokers, ['a:9092', 'b:9092']);
    assert.equal(s.redis.idleTtl, 3_600_000);
  });

  const bad: [string, NodeJS.ProcessEnv, RegExp][] = [
    [
      'a bad duration',
      { RISK_STREAM_REDIS_IDLE_TTL: 'soon' },
      /redis\.idleTtl.*RISK_STREAM_REDIS_IDLE_TTL.*duration.*"soon"/,
    ],
    ['a bad enum', { RISK_STREAM_KAFKA_INPUT_FORMAT: 'xml' }, /kafka\.inputFormat.*auto.*avro/],
    ['a port out of range', { RISK_STREAM_HTTP_PORT: '70000' }, /http\.port/],
    ['a bad boolean', { RISK_STREAM_KAFKA_EMIT_ALLOW: 'perhaps' }, /kafka\.emitAllow/],
    ['an unknown variable', { RISK_STREAM_KAFKA_BROKER: 'x' }, /unknown setting RISK_STREAM_KAFKA_BROKER/],
    [
      'a policy file that is invalid',
      { RISK_STREAM_POLICY_FILE: '/nonexistent/policy.yaml' },
      /policy\.file.*RISK_STREAM_POLICY_FILE.*cannot read policy file \/nonexistent\/policy\.yaml/,
    ],
  ];
  for (const [what, env, message] of bad) {
    it(`fails naming the setting on ${what}`, () => {
      assert.throws(
        () => loadSettings({ env }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'CONFIG_INVALID');
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  it('rejects unknown keys in the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rs-config-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ kafka: { brokerz: ['x'] } }));
    assert.throws(() => loadSettings({ file, env: {} }), /unknown setting kafka\.brokerz/);
  });

  it('parses durations', () => {
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('1000'), 1000);
    assert.equal(parseDuration('abc'), undefined);
  });
});
