import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DoctorReport } from '../../src/cli/diagnose';
import { envName, settingPaths } from '../../src/config/load';
import type { Decision } from '../../src/contract';
import { runCli, runCliAsync } from '../helpers/cli';
import { startChildEngine } from '../helpers/engine';
import { action } from '../helpers/fixtures';
import { saslBrokerUnavailable, startSaslBroker, type SaslBroker } from '../helpers/kafka-sasl';
import { REDIS_URL, collect, deleteKeys, testRedis, uniqueName } from '../helpers/services';
import { decodeDecision } from '../../src/emit/encode';

/**
 * Kafka SASL (SCRAM) end to end: a private broker of this test whose only client listener is
 * SASL_PLAINTEXT. `run` consumes and produces through it (the consumer, the admin and the producer
 * thread all log in), `simulate --to-kafka` and `evidence export` too; `doctor` says how it
 * connected; a wrong password fails start-up naming the setting and never printing it.
 */
describe('Kafka SASL/SCRAM (a private broker with a SASL_PLAINTEXT listener)', function () {
  this.timeout(240_000);
  const USER = { name: 'rs', password: 'scram-pass-0123456789abcdef' };
  const WRONG = 'wrong-scram-pass-0123456789';
  const prefix = `${uniqueName('rs-sasl')}:`;
  const session = uniqueName('sasl-session');
  let broker: SaslBroker;
  let passwordFile: string;
  const topics = {
    actionsTopic: 'sasl-actions',
    decisionsTopic: 'sasl-decisions',
    deadLetterTopic: 'sasl-dead-letters',
    shadowTopic: 'sasl-shadow',
    auditTopic: 'sasl-evidence',
  };

  before(async function () {
    const why = saslBrokerUnavailable();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    broker = await startSaslBroker(USER);
    const admin = broker.kafka(USER).admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: topics.actionsTopic, numPartitions: 2 }],
      waitForLeaders: true,
    });
    await admin.disconnect();
    passwordFile = join(mkdtempSync(join(tmpdir(), 'rs-sasl-')), 'kafka-password');
    writeFileSync(passwordFile, `${USER.password}\n`, { mode: 0o600 });
  });
  after(async () => {
    await broker?.stop();
    const redis = testRedis();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  /** The engine's environment on the private broker (every topic setting named here). */
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    RISK_STREAM_KAFKA_BROKERS: broker.bootstrap,
    ...Object.fromEntries(Object.entries(topics).map(([leaf, t]) => [envName(['kafka', leaf]), t])),
    RISK_STREAM_KAFKA_GROUP_ID: uniqueName('sasl-group'),
    RISK_STREAM_KAFKA_EMIT_ALLOW: 'true',
    RISK_STREAM_REDIS_URL: REDIS_URL,
    RISK_STREAM_REDIS_KEY_PREFIX: prefix,
    RISK_STREAM_KAFKA_SASL_MECHANISM: 'scram-sha-256',
    RISK_STREAM_KAFKA_SASL_USERNAME: USER.name,
    RISK_STREAM_KAFKA_SASL_PASSWORD_FILE: passwordFile,
    ...extra,
  });
  const noPasswords = (what: string, text: string) => {
    for (const p of [USER.password, WRONG])
      assert.ok(!text.includes(p), `${what} printed a password:\n${text}`);
  };

  it('every topic setting is covered (the engine would otherwise reach for a default topic)', () => {
    const all = settingPaths().filter(
      ([s, leaf]) => s === 'kafka' && leaf.endsWith('Topic') && !/^(stepUp|block|terminate)/.test(leaf),
    );
    assert.deepEqual(all.map(([, leaf]) => leaf).sort(), Object.keys(topics).sort());
  });

  it('run, simulate --to-kafka and evidence export all log in with SCRAM-SHA-256 (password from a file)', async () => {
    const engine = await startChildEngine({ env: env({ RISK_STREAM_LOG_LEVEL: 'debug' }) });
    try {
      const sim = await runCliAsync(
        ['simulate', '--to-kafka', '--rate', '400', '--limit', '200', '--seed', '3'],
        { env: env() },
      );
      assert.equal(sim.code, 0, sim.stderr);
      noPasswords('simulate', sim.stdout + sim.stderr);
      // Decisions produced by the engine's producer thread through SASL, read back through SASL.
      const decisions = await collect<Decision>(
        broker.kafka(USER, 'scram-sha-512'),
        topics.decisionsTopic,
        decodeDecision,
        (ds) => ds.length >= 200,
      );
      assert.equal(decisions.length, 200);
      // An export (a sensitive action) through the inline API: its evidence record goes to the
      // audit topic through the same producer, for `evidence export` to read back.
      const res = await fetch(`${engine.url}/v1/evaluate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(action({ session_id: session, action: 'export', records: 10, ts: Date.now() })),
      });
      assert.equal(res.status, 200, await res.text());
      assert.equal(await engine.stop(), 0, engine.output);
    } finally {
      engine.kill();
    }
    noPasswords('run', engine.output);

    const out = join(mkdtempSync(join(tmpdir(), 'rs-sasl-evidence-')), 'evidence.jsonl');
    const exported = await runCliAsync(
      ['evidence', 'export', '--session', session, '--timeout', '30s', '-o', out],
      { env: env() },
    );
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stderr, /evidence export: 1 record\(s\) of 1 session\(s\)/);
    noPasswords('evidence export', exported.stdout + exported.stderr);
  });

  it('doctor connects with SCRAM-SHA-512 and says so; with PLAIN and no TLS it warns', () => {
    const scram = runCli(['doctor', '--json', '--port', '0'], {
      env: env({ RISK_STREAM_KAFKA_SASL_MECHANISM: 'scram-sha-512' }),
    });
    const report = JSON.parse(scram.stdout) as DoctorReport;
    const kafka = report.checks.find((c) => c.name === 'kafka');
    assert.equal(kafka?.status, 'ok', scram.stdout);
    assert.match(kafka?.detail ?? '', /\(SASL scram-sha-512 as "rs"\)/);
    assert.equal(report.checks.find((c) => c.name === 'kafka topics')?.status !== 'fail', true, scram.stdout);
    noPasswords('doctor', scram.stdout + scram.stderr);

    const plain = runCli(['doctor', '--json', '--port', '0'], {
      env: env({ RISK_STREAM_KAFKA_SASL_MECHANISM: 'plain' }),
    });
    const checks = (JSON.parse(plain.stdout) as DoctorReport).checks;
    assert.equal(checks.find((c) => c.name === 'kafka')?.status, 'ok', plain.stdout);
    assert.match(checks.find((c) => c.name === 'kafka sasl')?.detail ?? '', /clear text/);
  });

  it('a wrong password: run fails start-up naming the SASL settings, doctor fails the kafka check; neither prints it', () => {
    const wrong = env({ RISK_STREAM_KAFKA_SASL_PASSWORD_FILE: '', RISK_STREAM_KAFKA_SASL_PASSWORD: WRONG });
    const run = runCli(['run', '--port', '0'], { env: wrong });
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      /^risk-stream: Kafka at 127\.0\.0\.1:\d+ refused SASL scram-sha-256 authentication as "rs": check kafka\.saslUsername, kafka\.saslPassword \(or kafka\.saslPasswordFile\) and kafka\.saslMechanism$/m,
    );
    noPasswords('run', run.stdout + run.stderr);

    const doctor = runCli(['doctor', '--json', '--port', '0'], { env: wrong });
    assert.equal(doctor.code, 1);
    const kafka = (JSON.parse(doctor.stdout) as DoctorReport).checks.find((c) => c.name === 'kafka');
    assert.equal(kafka?.status, 'fail');
    assert.match(kafka?.detail ?? '', /refused SASL authentication/);
    assert.match(kafka?.fix ?? '', /kafka\.saslPassword/);
    noPasswords('doctor', doctor.stdout + doctor.stderr);
  });

  it('no SASL settings: a plaintext client is dropped by the SASL listener and start-up fails', () => {
    const plaintext = env({
      RISK_STREAM_KAFKA_SASL_MECHANISM: '',
      RISK_STREAM_KAFKA_SASL_USERNAME: '',
      RISK_STREAM_KAFKA_SASL_PASSWORD_FILE: '',
      RISK_STREAM_KAFKA_CONNECTION_TIMEOUT: '2s',
    });
    const doctor = runCli(['doctor', '--json', '--port', '0', '--timeout', '2s'], { env: plaintext });
    assert.equal(doctor.code, 1);
    const kafka = (JSON.parse(doctor.stdout) as DoctorReport).checks.find((c) => c.name === 'kafka');
    assert.equal(kafka?.status, 'fail', doctor.stdout);
    assert.match(kafka?.fix ?? '', /SASL_PLAINTEXT kafka\.saslMechanism/);
  });
});
