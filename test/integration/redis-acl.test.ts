import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DoctorReport } from '../../src/cli/diagnose';
import { runCli, type CliResult } from '../helpers/cli';
import { startChildEngine } from '../helpers/engine';
import { action } from '../helpers/fixtures';
import {
  makeTestCertificates,
  startPrivateRedis,
  type PrivateRedis,
  type TlsFiles,
} from '../helpers/redis-server';
import { Sandbox, topicSettings } from '../helpers/sandbox';

/**
 * `risk-stream run` and `doctor` (the compiled CLI) against a private redis-server whose only user
 * is an ACL user (the default user off): the right user and password connect, from redis.url or
 * from redis.username / redis.password(File), which override the URL's; a wrong or missing one
 * fails start-up naming the setting to correct, and no password is ever printed.
 */
describe('Redis ACL credentials (a private redis-server with an ACL user)', function () {
  this.timeout(180_000);
  const USER = { name: 'rs', password: 'good-password-0123456789' };
  const WRONG = 'wrong-password-0123456789';
  const sb = new Sandbox('redis-acl', { topics: topicSettings(), partitions: 1 });
  let redis: PrivateRedis;
  let passwordFile: string;

  before(async () => {
    await sb.setUp();
    redis = await startPrivateRedis([USER]);
    passwordFile = join(mkdtempSync(join(tmpdir(), 'rs-acl-')), 'redis-password');
    // As a mounted secret often is: with a trailing newline.
    writeFileSync(passwordFile, `${USER.password}\n`, { mode: 0o600 });
  });
  after(async () => {
    await redis?.stop();
    await sb.tearDown();
  });

  /** Fails if any password appears in what the process printed. */
  const noPasswords = (r: { stdout: string; stderr: string }) => {
    for (const p of [USER.password, WRONG])
      assert.ok(!(r.stdout + r.stderr).includes(p), `a password was printed:\n${r.stdout}${r.stderr}`);
  };
  const doctor = (env: NodeJS.ProcessEnv): { r: CliResult; redisCheck: DoctorReport['checks'][number] } => {
    const r = runCli(['doctor', '--json', '--port', '0'], { env: sb.env(env) });
    const report = JSON.parse(r.stdout) as DoctorReport;
    const redisCheck = report.checks.find((c) => c.name === 'redis');
    assert.ok(redisCheck, r.stdout + r.stderr);
    return { r, redisCheck };
  };

  it('run logs in with redis.username and redis.passwordFile and keeps its session state there', async () => {
    const engine = await startChildEngine({
      env: sb.env({
        RISK_STREAM_REDIS_URL: redis.url,
        RISK_STREAM_REDIS_USERNAME: USER.name,
        RISK_STREAM_REDIS_PASSWORD_FILE: passwordFile,
        RISK_STREAM_LOG_LEVEL: 'debug',
      }),
    });
    try {
      const res = await fetch(`${engine.url}/v1/evaluate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(action({ session_id: 'acl-session', ts: Date.now() })),
      });
      assert.equal(res.status, 200, await res.text());
      const keys = await redis.client(USER).keys(`${sb.prefix}*`);
      assert.ok(keys.length > 0, 'the session window is in the private Redis');
      assert.equal(await engine.stop(), 0, engine.output);
    } finally {
      engine.kill();
    }
    noPasswords(engine);
  });

  it('doctor: the credentials in redis.url connect; redis.password overrides a wrong one there', () => {
    const inUrl = doctor({ RISK_STREAM_REDIS_URL: `redis://rs:${USER.password}@127.0.0.1:${redis.port}` });
    assert.equal(inUrl.redisCheck.status, 'ok', JSON.stringify(inUrl.redisCheck));
    assert.match(
      inUrl.redisCheck.detail,
      new RegExp(`^redis://rs:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}: PING`),
    );
    noPasswords(inUrl.r);

    const overridden = doctor({
      RISK_STREAM_REDIS_URL: `redis://rs:${WRONG}@127.0.0.1:${redis.port}`,
      RISK_STREAM_REDIS_PASSWORD: USER.password,
    });
    assert.equal(overridden.redisCheck.status, 'ok', JSON.stringify(overridden.redisCheck));
    noPasswords(overridden.r);
  });

  it('doctor: a wrong password fails the redis check naming the setting it came from', () => {
    const { r, redisCheck } = doctor({
      RISK_STREAM_REDIS_URL: redis.url,
      RISK_STREAM_REDIS_USERNAME: USER.name,
      RISK_STREAM_REDIS_PASSWORD: WRONG,
    });
    assert.equal(r.code, 1);
    assert.equal(redisCheck.status, 'fail');
    assert.match(redisCheck.detail, /refused the user name or password \(WRONGPASS\)/);
    assert.match(
      redisCheck.fix ?? '',
      /^correct redis\.username .* and redis\.password \(env RISK_STREAM_REDIS_PASSWORD\)/,
    );
    noPasswords(r);
  });

  it('run: a wrong password fails start-up naming redis.password (or redis.url), never printing it', () => {
    const viaSetting = runCli(['run', '--port', '0'], {
      env: sb.env({
        RISK_STREAM_REDIS_URL: `redis://rs:${USER.password}@127.0.0.1:${redis.port}`,
        RISK_STREAM_REDIS_PASSWORD: WRONG,
      }),
    });
    assert.equal(viaSetting.code, 1, viaSetting.stderr);
    assert.match(
      viaSetting.stderr,
      new RegExp(
        `^risk-stream: Redis at redis://rs:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port} refused the user name or password \\(WRONGPASS\\): correct redis\\.password \\(env RISK_STREAM_REDIS_PASSWORD\\)`,
        'm',
      ),
    );
    noPasswords(viaSetting);

    const viaUrl = runCli(['run', '--port', '0'], {
      env: sb.env({ RISK_STREAM_REDIS_URL: `redis://rs:${WRONG}@127.0.0.1:${redis.port}` }),
    });
    assert.equal(viaUrl.code, 1, viaUrl.stderr);
    assert.match(
      viaUrl.stderr,
      /refused the user name or password \(WRONGPASS\): correct redis\.url \(env RISK_STREAM_REDIS_URL\)/,
    );
    noPasswords(viaUrl);
  });

  describe('over TLS (redis.tls, redis.tlsCa)', () => {
    let secure: PrivateRedis;
    let tls: TlsFiles;
    before(async function () {
      if (spawnSync('openssl', ['version']).status !== 0) this.skip();
      tls = makeTestCertificates(mkdtempSync(join(tmpdir(), 'rs-acl-tls-')));
      secure = await startPrivateRedis([USER], { tls });
    });
    after(() => secure?.stop());

    it('doctor: redis.tls with redis.tlsCa and the ACL user connects; a rediss:// URL does the same', () => {
      const plainUrl = `redis://127.0.0.1:${secure.port}`;
      for (const extra of [
        { RISK_STREAM_REDIS_URL: plainUrl, RISK_STREAM_REDIS_TLS: 'true' },
        { RISK_STREAM_REDIS_URL: secure.url },
      ]) {
        const { r, redisCheck } = doctor({
          ...extra,
          RISK_STREAM_REDIS_TLS_CA: tls.ca,
          RISK_STREAM_REDIS_USERNAME: USER.name,
          RISK_STREAM_REDIS_PASSWORD_FILE: passwordFile,
        });
        assert.equal(redisCheck.status, 'ok', JSON.stringify(extra) + r.stdout);
        assert.match(redisCheck.detail, /^rediss?:\/\/127\.0\.0\.1:\d+ \(TLS\): PING/);
        noPasswords(r);
      }
    });

    it("doctor: without the CA (the system's do not know it) or without TLS, the redis check fails saying why", () => {
      const untrusted = doctor({
        RISK_STREAM_REDIS_URL: secure.url,
        RISK_STREAM_REDIS_USERNAME: USER.name,
        RISK_STREAM_REDIS_PASSWORD: USER.password,
      });
      assert.equal(untrusted.redisCheck.status, 'fail');
      assert.match(untrusted.redisCheck.detail, /TLS certificate/);
      assert.match(untrusted.redisCheck.fix ?? '', /^set redis\.tlsCa \(env RISK_STREAM_REDIS_TLS_CA\)/);
      noPasswords(untrusted.r);

      const plaintext = doctor({
        RISK_STREAM_REDIS_URL: `redis://127.0.0.1:${secure.port}`,
        RISK_STREAM_REDIS_USERNAME: USER.name,
        RISK_STREAM_REDIS_PASSWORD: USER.password,
      });
      assert.equal(plaintext.redisCheck.status, 'fail');
      assert.match(plaintext.redisCheck.fix ?? '', /redis\.tls or a rediss:\/\/ URL|rediss:\/\//);
      noPasswords(plaintext.r);
    });
  });

  it('run: no credentials for a Redis that requires them fails start-up saying which settings to set', () => {
    const r = runCli(['run', '--port', '0'], { env: sb.env({ RISK_STREAM_REDIS_URL: redis.url }) });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /Redis at redis:\/\/127\.0\.0\.1:\d+ requires a password \(NOAUTH\): set redis\.password \(env RISK_STREAM_REDIS_PASSWORD\)/,
    );
  });
});
