import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveKafkaSecurity, resolveRedisConnection, withEnv } from '../../../src/config/connections';
import { envName, loadSettings } from '../../../src/config/load';

/**
 * Kafka TLS/SASL and Redis credentials/TLS from the settings: what the clients get, and start-up
 * failures that name the setting and its variable but never a password.
 */

const SASL_PASSWORD = 'sasl-pass-0123456789abcdef';
const REDIS_PASSWORD = 'redis-pass-0123456789abcdef';
const URL_PASSWORD = 'url-pass-0123456789abcdef';

const dir = mkdtempSync(join(tmpdir(), 'rs-connections-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const CA = file('ca.pem', '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n');
const CERT = file('cert.pem', '-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n');
const KEY = file('key.pem', '-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n');

const settings = (env: NodeJS.ProcessEnv) => loadSettings({ env });
const kafkaOf = (env: NodeJS.ProcessEnv) => resolveKafkaSecurity(settings(env).kafka);
const redisOf = (env: NodeJS.ProcessEnv, url?: string) => resolveRedisConnection(settings(env).redis, url);

/** loadSettings fails CONFIG_INVALID naming `setting` and its variable, and no secret. */
function failsNaming(env: NodeJS.ProcessEnv, setting: string, why: RegExp) {
  const [section, leaf] = setting.split('.') as [string, string];
  assert.throws(
    () => settings(env),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CONFIG_INVALID');
      assert.ok(
        err.message.includes(`invalid setting ${setting} (env ${envName([section, leaf])})`),
        err.message,
      );
      assert.match(err.message, why);
      for (const secret of [SASL_PASSWORD, REDIS_PASSWORD, URL_PASSWORD])
        assert.ok(!err.message.includes(secret), `${err.message} shows a password`);
      return true;
    },
  );
}

describe('config/connections: Kafka TLS and SASL', () => {
  it('by default: plaintext, no SASL (nothing added to the kafkajs config)', () => {
    assert.deepEqual(kafkaOf({}), {});
  });

  it('kafka.ssl alone: TLS with the system CAs; with sslCa/sslCert/sslKey: their PEM text', () => {
    assert.deepEqual(kafkaOf({ RISK_STREAM_KAFKA_SSL: 'true' }), { ssl: {} });
    assert.deepEqual(
      kafkaOf({
        RISK_STREAM_KAFKA_SSL: 'true',
        RISK_STREAM_KAFKA_SSL_CA: CA,
        RISK_STREAM_KAFKA_SSL_CERT: CERT,
        RISK_STREAM_KAFKA_SSL_KEY: KEY,
      }),
      {
        ssl: {
          ca: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
          cert: '-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n',
          key: '-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n',
        },
      },
    );
  });

  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
    it(`SASL ${mechanism}: the mechanism, user and password kafkajs takes`, () => {
      assert.deepEqual(
        kafkaOf({
          RISK_STREAM_KAFKA_SASL_MECHANISM: mechanism,
          RISK_STREAM_KAFKA_SASL_USERNAME: 'risk',
          RISK_STREAM_KAFKA_SASL_PASSWORD: SASL_PASSWORD,
        }),
        { sasl: { mechanism, username: 'risk', password: SASL_PASSWORD } },
      );
    });
  }

  it('kafka.saslPasswordFile: a mounted secret, its trailing newline dropped; with TLS too', () => {
    const secretFile = file('sasl-password', `${SASL_PASSWORD}\n`);
    assert.deepEqual(
      kafkaOf({
        RISK_STREAM_KAFKA_SSL: 'yes',
        RISK_STREAM_KAFKA_SASL_MECHANISM: 'scram-sha-512',
        RISK_STREAM_KAFKA_SASL_USERNAME: 'risk',
        RISK_STREAM_KAFKA_SASL_PASSWORD_FILE: secretFile,
      }),
      { ssl: {}, sasl: { mechanism: 'scram-sha-512', username: 'risk', password: SASL_PASSWORD } },
    );
  });

  it('a combination that does not add up fails start-up naming the setting, never the password', () => {
    const sasl = { RISK_STREAM_KAFKA_SASL_MECHANISM: 'scram-sha-256' };
    failsNaming({ RISK_STREAM_KAFKA_SSL_CA: CA }, 'kafka.ssl', /kafka\.sslCa is set but kafka\.ssl is false/);
    failsNaming(
      { RISK_STREAM_KAFKA_SSL: 'true', RISK_STREAM_KAFKA_SSL_CERT: CERT },
      'kafka.sslKey',
      /needs both kafka\.sslCert and kafka\.sslKey/,
    );
    failsNaming(
      { RISK_STREAM_KAFKA_SSL: 'true', RISK_STREAM_KAFKA_SSL_CA: join(dir, 'missing.pem') },
      'kafka.sslCa',
      /cannot read .*missing\.pem/,
    );
    failsNaming(
      { RISK_STREAM_KAFKA_SASL_USERNAME: 'risk', RISK_STREAM_KAFKA_SASL_PASSWORD: SASL_PASSWORD },
      'kafka.saslMechanism',
      /kafka\.saslMechanism is none/,
    );
    failsNaming(
      { ...sasl, RISK_STREAM_KAFKA_SASL_PASSWORD: SASL_PASSWORD },
      'kafka.saslUsername',
      /needs a user name/,
    );
    failsNaming(
      { ...sasl, RISK_STREAM_KAFKA_SASL_USERNAME: 'risk' },
      'kafka.saslPassword',
      /needs kafka\.saslPassword/,
    );
    failsNaming(
      {
        ...sasl,
        RISK_STREAM_KAFKA_SASL_USERNAME: 'risk',
        RISK_STREAM_KAFKA_SASL_PASSWORD: SASL_PASSWORD,
        RISK_STREAM_KAFKA_SASL_PASSWORD_FILE: file('p2', SASL_PASSWORD),
      },
      'kafka.saslPassword',
      /not both/,
    );
    failsNaming(
      {
        ...sasl,
        RISK_STREAM_KAFKA_SASL_USERNAME: 'risk',
        RISK_STREAM_KAFKA_SASL_PASSWORD_FILE: file('empty', '\n'),
      },
      'kafka.saslPasswordFile',
      /is empty/,
    );
    failsNaming({ RISK_STREAM_KAFKA_SASL_MECHANISM: 'gssapi' }, 'kafka.saslMechanism', /plain/);
  });

  it('a password of the wrong type in a config file is not echoed', () => {
    const config = file('bad.json', JSON.stringify({ kafka: { saslPassword: 12345678901234 } }));
    const redis = file('bad-redis.json', JSON.stringify({ redis: { password: 98765432109876 } }));
    for (const [f, secret] of [
      [config, '12345678901234'],
      [redis, '98765432109876'],
    ] as const) {
      assert.throws(
        () => loadSettings({ file: f, env: {} }),
        (err: Error) =>
          /value not shown: it holds credentials/.test(err.message) && !err.message.includes(secret),
      );
    }
  });
});

describe('config/connections: Redis credentials and TLS', () => {
  it('credentials in redis.url are taken out of the URL and sent as options; the URL shown is masked', () => {
    const c = redisOf({ RISK_STREAM_REDIS_URL: `redis://risk:${URL_PASSWORD}@10.0.0.5:6380/2` });
    assert.equal(c.url, 'redis://10.0.0.5:6380/2');
    assert.equal(c.shown, 'redis://risk:***@10.0.0.5:6380/2');
    assert.deepEqual(c.options, { username: 'risk', password: URL_PASSWORD });
    assert.deepEqual(c.credentialsFrom, ['redis.url']);
  });

  it("redis.username and redis.password override the URL's, each on its own", () => {
    const url = `redis://risk:${URL_PASSWORD}@10.0.0.5:6380`;
    const both = redisOf({
      RISK_STREAM_REDIS_URL: url,
      RISK_STREAM_REDIS_USERNAME: 'other',
      RISK_STREAM_REDIS_PASSWORD: REDIS_PASSWORD,
    });
    assert.deepEqual(both.options, { username: 'other', password: REDIS_PASSWORD });
    assert.deepEqual(both.credentialsFrom, ['redis.username', 'redis.password']);
    assert.equal(both.url, 'redis://10.0.0.5:6380');

    const password = redisOf({ RISK_STREAM_REDIS_URL: url, RISK_STREAM_REDIS_PASSWORD: REDIS_PASSWORD });
    assert.deepEqual(password.options, { username: 'risk', password: REDIS_PASSWORD });
    assert.deepEqual(password.credentialsFrom, ['redis.password', 'redis.url']);

    const noUrlCredentials = redisOf({
      RISK_STREAM_REDIS_USERNAME: 'risk',
      RISK_STREAM_REDIS_PASSWORD_FILE: file('redis-password', `${REDIS_PASSWORD}\r\n`),
    });
    assert.deepEqual(noUrlCredentials.options, { username: 'risk', password: REDIS_PASSWORD });
    assert.deepEqual(noUrlCredentials.credentialsFrom, ['redis.username', 'redis.passwordFile']);
    assert.equal(noUrlCredentials.url, 'redis://127.0.0.1:6379');
  });

  it('percent-encoded credentials in the URL are decoded', () => {
    const c = redisOf({ RISK_STREAM_REDIS_URL: 'redis://r%40isk:p%3Aw%2Fd@h:1' });
    assert.deepEqual(c.options, { username: 'r@isk', password: 'p:w/d' });
  });

  it('replay --redis: another URL, the redis.* credentials still apply', () => {
    const c = redisOf({ RISK_STREAM_REDIS_PASSWORD: REDIS_PASSWORD }, 'redis://replay-host:6379');
    assert.equal(c.url, 'redis://replay-host:6379');
    assert.deepEqual(c.options, { password: REDIS_PASSWORD });
  });

  it('TLS with redis.tls or a rediss:// URL, with redis.tlsCa as the CA', () => {
    assert.deepEqual(redisOf({ RISK_STREAM_REDIS_TLS: 'true' }).options, { tls: {} });
    assert.deepEqual(redisOf({ RISK_STREAM_REDIS_URL: 'rediss://h:6380' }).options, { tls: {} });
    const ca = redisOf({ RISK_STREAM_REDIS_URL: 'rediss://h:6380', RISK_STREAM_REDIS_TLS_CA: CA });
    assert.equal(ca.url, 'rediss://h:6380');
    assert.deepEqual(ca.options, {
      tls: { ca: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n' },
    });
    assert.deepEqual(redisOf({}).options, {});
  });

  it('a combination that does not add up fails start-up naming the setting, never the password', () => {
    failsNaming(
      { RISK_STREAM_REDIS_TLS_CA: CA },
      'redis.tls',
      /redis\.tlsCa is set but the connection is not TLS/,
    );
    failsNaming(
      { RISK_STREAM_REDIS_PASSWORD: REDIS_PASSWORD, RISK_STREAM_REDIS_PASSWORD_FILE: file('p3', 'x') },
      'redis.password',
      /not both/,
    );
    failsNaming(
      { RISK_STREAM_REDIS_PASSWORD_FILE: join(dir, 'missing-password') },
      'redis.passwordFile',
      /cannot read/,
    );
    failsNaming(
      { RISK_STREAM_REDIS_URL: `redis://risk:${URL_PASSWORD}@[not-a-host` },
      'redis.url',
      /is not a URL/,
    );
  });

  it('withEnv names settings with their variables', () => {
    assert.equal(
      withEnv(['redis.password', 'redis.url']),
      'redis.password (env RISK_STREAM_REDIS_PASSWORD) and redis.url (env RISK_STREAM_REDIS_URL)',
    );
    assert.equal(
      withEnv(['kafka.saslPasswordFile']),
      `kafka.saslPasswordFile (env ${envName(['kafka', 'saslPasswordFile'])})`,
    );
  });
});
