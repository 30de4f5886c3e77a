import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DoctorReport } from '../../src/cli/diagnose';
import { runCli, runCliAsync } from '../helpers/cli';
import { Sandbox, topicSettings } from '../helpers/sandbox';
import { KAFKA_BROKERS, freePort, uniqueName } from '../helpers/services';

const doctor = (args: string[], env: NodeJS.ProcessEnv) => runCli(['doctor', ...args], { env });
/** For a test that serves something in this process while doctor runs (runCli would block it). */
const doctorAsync = (args: string[], env: NodeJS.ProcessEnv) => runCliAsync(['doctor', ...args], { env });

const line = (out: string, status: string, name: string) =>
  out.split('\n').find((l) => new RegExp(`^${status}\\s+${name}\\s{2,}`).test(l));

describe('risk-stream doctor (the compiled CLI) on real Kafka and Redis', function () {
  this.timeout(120_000);
  // Every topic setting (kafka.*Topic) gets a topic of its own, so "all ok" means every one exists.
  const sb = new Sandbox('doctor', { topics: topicSettings(), partitions: 2 });
  const topics = sb.topics;
  const dir = mkdtempSync(join(tmpdir(), 'rs-doctor-'));
  let env: NodeJS.ProcessEnv;
  let port: number;

  before(async () => {
    await sb.setUp();
    port = await freePort();
    env = sb.env({ RISK_STREAM_HTTP_PORT: String(port) });
  });

  after(() => sb.tearDown());

  it('all ok: settings from a file overridden by the environment, Kafka, every topic, Redis, model, policy, port', () => {
    // The file names an unreachable broker; the environment's broker wins (defaults < file < env < flags).
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ kafka: { brokers: '127.0.0.1:1' }, log: { level: 'warn' } }));
    const r = doctor(['--config', config], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = r.stdout;
    assert.match(
      line(out, 'ok', 'settings') ?? '',
      new RegExp(
        `valid: defaults < config file ${config} < environment \\(.*RISK_STREAM_KAFKA_BROKERS.*\\)$`,
      ),
    );
    assert.match(
      line(out, 'ok', 'kafka') ?? '',
      new RegExp(`reached ${KAFKA_BROKERS[0]} in [\\d.]+ ms; cluster \\S+, \\d+ brokers? \\(`),
    );
    const topicsLine = line(out, 'ok', 'kafka topics') ?? '';
    assert.match(topicsLine, new RegExp(`input "${topics.actionsTopic}" \\(2 partitions\\)`));
    for (const t of Object.values(topics)) assert.ok(topicsLine.includes(`"${t}"`), `${t} in ${topicsLine}`);
    assert.match(line(out, 'ok', 'redis') ?? '', /: PING [\d.]+ ms, Redis \d+\.\d+/);
    assert.ok(line(out, '(ok|warn)', 'redis eviction'), out);
    assert.match(
      line(out, 'ok', 'model') ?? '',
      /session-risk \S+ \(ACTIVE\) .*features v\d+ \(\d+ inputs\) match/,
    );
    assert.match(line(out, 'ok', 'policy') ?? '', /built-in policy/);
    assert.match(line(out, 'ok', 'http port') ?? '', new RegExp(`127\\.0\\.0\\.1:${port} is free to bind`));
    assert.doesNotMatch(out, /^FAIL/m);
    assert.match(out, /^summary: (all \d+ checks ok|nothing failed; 1 warning, \d+ ok)$/m);

    const json = doctor(['--json'], env);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as DoctorReport;
    assert.equal(report.ok, true);
    assert.equal(report.summary.fail, 0);
    assert.deepEqual(
      report.checks.map((c) => c.name),
      ['settings', 'kafka', 'kafka topics', 'redis', 'redis eviction', 'model', 'policy', 'http port'],
    );
  });

  it('an unreachable broker: one plain line, no kafkajs stack trace, exit 1', () => {
    const r = doctor(['--brokers', '127.0.0.1:1', '--timeout', '2s'], env);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^FAIL {2}kafka {11}cannot reach Kafka at 127\.0\.0\.1:1 \(connection refused\)$/m,
    );
    assert.match(r.stdout, /^ {22}fix: start the broker, or correct kafka\.brokers/m);
    assert.doesNotMatch(r.stdout + r.stderr, /KafkaJS|\n\s+at /);
    assert.ok(line(r.stdout, 'ok', 'redis'), 'the other checks still run');
    assert.match(r.stdout, /^summary: 1 check failed/m);
  });

  it('an unreachable Redis: the password in the URL is never printed', () => {
    const url = 'redis://doctor:s3cret-doctor-pass@127.0.0.1:1';
    for (const args of [[], ['--json']]) {
      const r = doctor(args, { ...env, RISK_STREAM_REDIS_URL: url });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.ok(!(r.stdout + r.stderr).includes('s3cret-doctor-pass'), r.stdout + r.stderr);
      const detail = 'cannot reach Redis at redis://doctor:***@127.0.0.1:1 (connection refused)';
      if (args.length === 0) {
        assert.match(line(r.stdout, 'FAIL', 'redis') ?? '', /cannot reach Redis/);
        assert.ok(r.stdout.includes(detail), r.stdout);
      } else {
        const report = JSON.parse(r.stdout) as DoctorReport;
        assert.deepEqual(
          report.checks.find((c) => c.name === 'redis'),
          {
            status: 'fail',
            name: 'redis',
            detail,
            fix: 'start Redis, or correct redis.url (env RISK_STREAM_REDIS_URL, flag --redis-url)',
          },
        );
      }
    }
  });

  it('a missing input topic fails; a missing output topic is a warning (`run` creates it)', () => {
    const missing = uniqueName('doctor-missing');
    const r = doctor([], { ...env, RISK_STREAM_KAFKA_ACTIONS_TOPIC: missing });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      line(r.stdout, 'FAIL', 'kafka topics') ?? '',
      new RegExp(`input topic "${missing}" \\(kafka\\.actionsTopic\\) does not exist$`),
    );
    assert.match(r.stdout, /fix: create it .*--topic doctor-missing-.*`run` never creates the input topic/);

    const out = uniqueName('doctor-missing-out');
    const w = doctor([], { ...env, RISK_STREAM_KAFKA_DECISIONS_TOPIC: out });
    assert.equal(w.code, 0, w.stdout + w.stderr);
    assert.match(
      line(w.stdout, 'warn', 'kafka topics') ?? '',
      new RegExp(
        `missing output topic "${out}" \\(kafka\\.decisionsTopic\\), which \`run\` creates at start-up`,
      ),
    );
    assert.match(w.stdout, /^summary: nothing failed; \d+ warnings?, \d+ ok$/m);
  });

  it('a bad setting: the start-up message naming it, exit 1; a broken config file never echoes a token', () => {
    const r = doctor([], { ...env, RISK_STREAM_REDIS_IDLE_TTL: 'soon' });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^FAIL {2}settings {8}invalid setting redis\.idleTtl \(env RISK_STREAM_REDIS_IDLE_TTL\): expected a duration like 30s, 5m or 1h \(got "soon"\)$/m,
    );
    assert.match(r.stdout, /^summary: 1 check failed, 0 warnings, 0 ok$/m);

    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"http": {"tokens": tok-0123456789abcdef}}');
    const b = doctor(['--config', broken], env);
    assert.equal(b.code, 1);
    assert.match(b.stdout, /FAIL {2}settings {8}config file .*broken\.json: Unexpected token/);
    assert.ok(!(b.stdout + b.stderr).includes('0123456789'), b.stdout);
  });

  it('CAEP receivers reachable or not, the signing key, and an HTTP port in use', async () => {
    const receiver = createHttpServer((_req, res) => res.writeHead(405).end());
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const receiverPort = (receiver.address() as { port: number }).port;
    const closedPort = await freePort();
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(port, '127.0.0.1', r));
    try {
      const r = await doctorAsync(['--timeout', '2s'], {
        ...env,
        RISK_STREAM_CAEP_ENABLED: 'true',
        RISK_STREAM_CAEP_KEY_FILE: join(dir, 'keys', 'caep.json'),
        RISK_STREAM_CAEP_RECEIVERS: JSON.stringify([
          {
            url: `http://127.0.0.1:${receiverPort}/events?access_token=caep-query-secret`,
            audience: 'up',
            authorization: 'Bearer caep-header-secret',
          },
          { url: `http://127.0.0.1:${closedPort}/events`, audience: 'down' },
        ]),
      });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(
        line(r.stdout, 'ok', 'caep receiver up') ?? '',
        new RegExp(
          `http://127\\.0\\.0\\.1:${receiverPort}/events\\?access_token=\\*\\*\\* answers \\(HTTP 405`,
        ),
      );
      assert.match(
        line(r.stdout, 'FAIL', 'caep receiver down') ?? '',
        new RegExp(`cannot reach http://127\\.0\\.0\\.1:${closedPort}/events \\(connection refused\\)`),
      );
      assert.match(
        line(r.stdout, 'warn', 'caep key') ?? '',
        /does not exist: `run` generates an ES256 key there/,
      );
      assert.match(
        line(r.stdout, 'FAIL', 'http port') ?? '',
        new RegExp(`127\\.0\\.0\\.1:${port} is in use$`),
      );
      assert.doesNotMatch(r.stdout + r.stderr, /caep-(query|header)-secret/);
    } finally {
      receiver.close();
      busy.close();
    }
  });
});
