import assert from 'node:assert/strict';
import {
  KafkaJSConnectionError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError,
} from 'kafkajs';
import {
  describeNetworkError,
  evictionRisk,
  explainKafkaError,
  explainRedisError,
  fail,
  formatReport,
  hostPort,
  ok,
  parseInfo,
  report,
  warn,
} from '../../../src/cli/diagnose';

const errno = (code: string, message = `connect ${code} 127.0.0.1:1`) =>
  Object.assign(new Error(message), { code });

describe('cli/diagnose', () => {
  describe('report and formatReport', () => {
    it('one line per check, the fix below, a summary; ok when nothing failed', () => {
      const r = report([
        ok('settings', 'valid: defaults < environment (RISK_STREAM_KAFKA_BROKERS)'),
        fail('kafka', 'cannot reach Kafka at 127.0.0.1:1 (connection refused)', 'start the broker'),
        warn('redis eviction', 'maxmemory-policy allkeys-lru', 'set noeviction'),
      ]);
      assert.equal(r.ok, false);
      assert.deepEqual(r.summary, { ok: 1, warn: 1, fail: 1 });
      assert.equal(
        formatReport(r),
        [
          'ok    settings        valid: defaults < environment (RISK_STREAM_KAFKA_BROKERS)',
          'FAIL  kafka           cannot reach Kafka at 127.0.0.1:1 (connection refused)',
          '                      fix: start the broker',
          'warn  redis eviction  maxmemory-policy allkeys-lru',
          '                      fix: set noeviction',
          'summary: 1 check failed, 1 warning, 1 ok',
          '',
        ].join('\n'),
      );
    });

    it('warnings alone do not fail; names longer than the column widen it', () => {
      const r = report([ok('kafka', 'fine'), warn('caep receiver https://idp.example.com', 'slow', 'look')]);
      assert.equal(r.ok, true);
      const text = formatReport(r);
      assert.match(text, /^ok {4}kafka {34}fine$/m);
      assert.match(text, /^summary: nothing failed; 1 warning, 1 ok$/m);
      assert.equal(
        formatReport(report([ok('a', 'b'), ok('c', 'd')]))
          .split('\n')
          .at(-2),
        'summary: all 2 checks ok',
      );
    });
  });

  it('hostPort', () => {
    assert.deepEqual(hostPort('127.0.0.1:19092'), { host: '127.0.0.1', port: 19092 });
    assert.deepEqual(hostPort('[::1]:9092'), { host: '::1', port: 9092 });
    assert.deepEqual(hostPort('kafka-0.kafka:9092'), { host: 'kafka-0.kafka', port: 9092 });
    assert.equal(hostPort('kafka'), null);
    assert.equal(hostPort('kafka:http'), null);
    assert.equal(hostPort('kafka:70000'), null);
  });

  it('describeNetworkError: codes in plain words, also from a cause or the message', () => {
    assert.equal(describeNetworkError(errno('ECONNREFUSED'), 3000), 'connection refused');
    assert.equal(describeNetworkError(errno('ENOTFOUND'), 3000), 'host name not found');
    assert.equal(describeNetworkError(errno('ETIMEDOUT'), 2500), 'no answer within 2500 ms');
    assert.equal(
      describeNetworkError(new TypeError('fetch failed', { cause: errno('ECONNREFUSED') }), 3000),
      'connection refused',
    );
    assert.equal(
      describeNetworkError(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:1'), 3000),
      'connection refused',
    );
    assert.equal(
      describeNetworkError(Object.assign(new Error('aborted'), { name: 'TimeoutError' }), 1000),
      'no answer within 1000 ms',
    );
    assert.equal(
      describeNetworkError(errno('CERT_HAS_EXPIRED', 'certificate has expired'), 1000),
      'its TLS certificate has expired',
    );
    assert.equal(
      describeNetworkError(new TypeError('fetch failed', { cause: new Error('bad port') }), 1000),
      'fetch failed: bad port',
    );
    assert.equal(describeNetworkError(new Error('to redis://u:pw@h:1'), 1000), 'to redis://u:***@h:1');
  });

  describe('explainKafkaError', () => {
    it('an unreachable broker, unwrapped from the retry error', () => {
      const e = new KafkaJSNumberOfRetriesExceeded(
        new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:1', {
          code: 'ECONNREFUSED',
        } as never),
        { retryCount: 0, retryTime: 0 } as never,
      );
      const r = explainKafkaError(e, '127.0.0.1:1', 3000);
      assert.equal(r.detail, 'cannot reach Kafka at 127.0.0.1:1 (connection refused)');
      assert.match(r.fix, /kafka\.brokers/);
    });

    it('SASL refused', () => {
      const r = explainKafkaError(
        // (its typings omit the message the class takes)
        new (KafkaJSSASLAuthenticationError as unknown as new (message: string) => Error)(
          'SASL PLAIN authentication failed: Authentication failed',
        ),
        'b:9093',
        3000,
      );
      assert.match(r.detail, /^Kafka at b:9093 refused SASL authentication/);
      assert.match(r.fix, /SASL user, password and mechanism/);
      assert.match(
        r.fix,
        /kafka\.saslUsername, kafka\.saslPassword or kafka\.saslPasswordFile, kafka\.saslMechanism/,
      );
    });

    it('no Kafka answer: a TLS or SASL listener, or not Kafka at all', () => {
      const r = explainKafkaError(
        new KafkaJSRequestTimeoutError('Request ApiVersions(key: 18, version: 2) timed out'),
        'b:9093',
        2000,
      );
      assert.match(r.detail, /^connected to b:9093, but got no Kafka answer within 2000 ms/);
      assert.match(r.fix, /TLS or SASL listener/);
      assert.match(r.fix, /SSL kafka\.ssl, SASL_PLAINTEXT kafka\.saslMechanism, SASL_SSL both/);
    });

    it('not authorized', () => {
      const e = new KafkaJSProtocolError({
        message: 'Not authorized',
        type: 'TOPIC_AUTHORIZATION_FAILED',
        code: 29,
        retriable: false,
      } as never);
      assert.match(
        explainKafkaError(e, 'b:9092', 1000).detail,
        /not authorized \(TOPIC_AUTHORIZATION_FAILED\)/,
      );
    });
  });

  describe('explainRedisError', () => {
    it('unreachable, with the (already masked) URL', () => {
      const r = explainRedisError(errno('ECONNREFUSED'), 'redis://u:***@127.0.0.1:1', 3000);
      assert.equal(r.detail, 'cannot reach Redis at redis://u:***@127.0.0.1:1 (connection refused)');
      assert.match(r.fix, /redis\.url/);
    });
    it('credentials refused or missing', () => {
      assert.match(
        explainRedisError(new Error('WRONGPASS invalid username-password pair'), 'redis://u:***@h:6379', 1000)
          .detail,
        /refused the user name or password/,
      );
      assert.match(
        explainRedisError(new Error('NOAUTH Authentication required.'), 'redis://h:6379', 1000).detail,
        /requires a password/,
      );
    });
    it('refused credentials: the fix names the settings they came from, with their variables', () => {
      const wrong = new Error('WRONGPASS invalid username-password pair');
      assert.match(
        explainRedisError(wrong, 'redis://h:6379', 1000, ['redis.username', 'redis.passwordFile']).fix,
        /^correct redis\.username \(env RISK_STREAM_REDIS_USERNAME\) and redis\.passwordFile \(env RISK_STREAM_REDIS_PASSWORD_FILE\)/,
      );
      assert.match(
        explainRedisError(wrong, 'redis://u:***@h:6379', 1000).fix,
        /^correct redis\.url \(env RISK_STREAM_REDIS_URL\)/,
      );
      assert.match(
        explainRedisError(new Error('NOAUTH Authentication required.'), 'redis://h:6379', 1000).fix,
        /^set redis\.password \(env RISK_STREAM_REDIS_PASSWORD\) or redis\.passwordFile/,
      );
    });
    it('a certificate this host does not trust: set redis.tlsCa', () => {
      for (const code of [
        'SELF_SIGNED_CERT_IN_CHAIN',
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        'CERT_HAS_EXPIRED',
      ]) {
        const r = explainRedisError(
          errno(code, 'self-signed certificate in certificate chain'),
          'rediss://h:6380',
          1000,
        );
        assert.match(r.detail, /^cannot reach Redis at rediss:\/\/h:6380 \(its TLS certificate/, code);
        assert.match(r.fix, /^set redis\.tlsCa \(env RISK_STREAM_REDIS_TLS_CA\)/, code);
      }
    });
    it('TLS expected or not Redis', () => {
      assert.match(
        explainRedisError(errno('ETIMEDOUT'), 'rediss://h:6379', 1000).fix,
        /rediss:\/\/ expects TLS/,
      );
      assert.match(explainRedisError(errno('EPIPE'), 'redis://h:9092', 1000).fix, /is it a Redis port/);
    });
  });

  it('evictionRisk: anything but noeviction may lose session state (session keys have a TTL)', () => {
    assert.equal(evictionRisk('noeviction'), null);
    assert.match(evictionRisk('allkeys-lru') ?? '', /evicts any key/);
    assert.match(evictionRisk('volatile-ttl') ?? '', /every session key has one/);
    assert.ok(evictionRisk('something-new'));
  });

  it('parseInfo', () => {
    assert.deepEqual(parseInfo('# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\r\n'), {
      redis_version: '7.0.15',
      redis_mode: 'standalone',
    });
  });
});
