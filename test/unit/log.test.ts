import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, maskUrl } from '../../src/log';

/** The project's logger, writing its JSON lines into an array. */
function capture(level = 'debug') {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { log: createLogger(level, 'test', out), lines };
}

describe('log', () => {
  describe('maskUrl', () => {
    const cases: [string, string][] = [
      ['redis://user:s3cret@127.0.0.1:6379/0', 'redis://user:***@127.0.0.1:6379/0'],
      ['redis://:s3cret@127.0.0.1:6379', 'redis://:***@127.0.0.1:6379'],
      ['rediss://s3cret@redis.example.com:6380', 'rediss://***@redis.example.com:6380'],
      [
        'https://idp.example.com/caep?access_token=s3cret&x=1',
        'https://idp.example.com/caep?access_token=***&x=1',
      ],
      ['https://idp.example.com/caep?sig=s3cret', 'https://idp.example.com/caep?sig=***'],
      ['http://127.0.0.1:9464/metrics', 'http://127.0.0.1:9464/metrics'],
      ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
      [
        'cannot reach redis://u:s3cret@a:1 and https://t0k3n@b/x',
        'cannot reach redis://u:***@a:1 and https://***@b/x',
      ],
      ['not a url', 'not a url'],
    ];
    for (const [url, masked] of cases) it(url, () => assert.equal(maskUrl(url), masked));
  });

  it('never writes tokens, passwords, Authorization headers, keys or URL credentials', () => {
    const { log, lines } = capture();
    const secrets = {
      httpToken: 'http-token-0123456789abcdef',
      analystToken: 'analyst-token-0123456789abcdef',
      bearer: 'bearer-header-0123456789abcdef',
      redisPassword: 'redis-pass-0123456789',
      saslPassword: 'sasl-pass-0123456789',
      caepAuth: 'caep-auth-0123456789abcdef',
      caepQuery: 'caep-query-0123456789',
      jwkD: 'jwk-private-d-0123456789',
      childToken: 'child-token-0123456789',
    };
    const receivers = [
      {
        url: `https://idp.example.com/caep?access_token=${secrets.caepQuery}`,
        audience: 'https://idp.example.com',
        authorization: `Bearer ${secrets.caepAuth}`,
      },
    ];
    // The settings, whole or by section, as a careless log line might carry them.
    log.info(
      {
        settings: {
          http: { tokens: secrets.httpToken, analystTokens: secrets.analystToken },
          redis: { url: `redis://user:${secrets.redisPassword}@10.0.0.5:6379` },
          caep: { receivers },
        },
      },
      'settings',
    );
    log.info({
      http: { tokens: secrets.httpToken },
      redis: { url: `redis://:${secrets.redisPassword}@r:6379` },
    });
    log.info({ tokens: [secrets.httpToken], token: secrets.httpToken }, 'tokens');
    // A request, as fastify's serializer or a handler would log it.
    log.warn({ req: { method: 'POST', headers: { authorization: `Bearer ${secrets.bearer}` } } }, 'request');
    log.warn({ headers: { authorization: `Bearer ${secrets.bearer}` } }, 'headers');
    log.error({ authorization: `Bearer ${secrets.bearer}` }, 'header');
    // Redis and Kafka connection settings.
    log.error({ url: `redis://user:${secrets.redisPassword}@10.0.0.5:6379` }, 'cannot reach Redis');
    log.info({ redisUrl: `redis://user:${secrets.redisPassword}@10.0.0.5:6379` }, 'redis');
    log.info({
      kafka: {
        brokers: ['b:9092'],
        sasl: { mechanism: 'plain', username: 'u', password: secrets.saslPassword },
      },
    });
    log.info({ sasl: { mechanism: 'scram-sha-512', username: 'u', password: secrets.saslPassword } });
    log.info({ options: { kafka: { sasl: { password: secrets.saslPassword } } } });
    // CAEP: the start-up line lists receivers; a failed push names the receiver's url.
    log.info(
      { receivers: receivers.map((r) => ({ audience: r.audience, url: r.url })) },
      'CAEP transmitter ready',
    );
    log.info({ receivers }, 'receivers');
    log.warn({ receiver: receivers[0]!.audience, url: receivers[0]!.url, jti: 'j1' }, 'CAEP push failed');
    log.info({ caep: { receivers } }, 'caep');
    log.info({ jwk: { kty: 'EC', d: secrets.jwkD }, privateKey: secrets.jwkD }, 'key');
    // A child logger's bindings go through the same redaction.
    log
      .child({ component: 'caep', token: secrets.childToken })
      .info({ password: secrets.saslPassword }, 'child');

    const text = lines.join('\n');
    assert.equal(lines.length, 17);
    for (const [what, secret] of Object.entries(secrets)) assert.ok(!text.includes(secret), `${what} leaked`);
    assert.ok(lines.every((l) => JSON.parse(l) as unknown));
    // What is left still says what was there.
    assert.match(text, /"tokens":"\[redacted\]"/);
    assert.match(text, /"authorization":"\[redacted\]"/);
    assert.match(text, /"url":"redis:\/\/user:\*\*\*@10\.0\.0\.5:6379"/);
    assert.match(text, /"url":"https:\/\/idp\.example\.com\/caep\?access_token=\*\*\*"/);
    assert.match(text, /"audience":"https:\/\/idp\.example\.com"/);
    assert.match(text, /"brokers":\["b:9092"\]/);
  });

  it('redacts the Kafka and Redis client settings that hold secrets, as settings and as built client options', () => {
    const { log, lines } = capture();
    const saslPassword = 'sasl-setting-pass-0123456789';
    const redisPassword = 'redis-setting-pass-0123456789';
    const pem =
      '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIPRIVATEKEYBYTES\n-----END PRIVATE KEY-----';
    log.info({ kafka: { saslMechanism: 'scram-sha-256', saslUsername: 'rs', saslPassword } }, 'settings');
    log.info({ settings: { kafka: { saslPassword }, redis: { username: 'rs', password: redisPassword } } });
    log.info({ ssl: { key: pem }, sasl: { mechanism: 'plain', username: 'rs', password: saslPassword } });
    log.info({ options: { tls: { key: pem }, password: redisPassword } }, 'redis client');
    const text = lines.join('\n');
    for (const secret of [saslPassword, redisPassword, 'PRIVATEKEYBYTES'])
      assert.ok(!text.includes(secret), `${secret} leaked:\n${text}`);
    assert.match(text, /"saslUsername":"rs"/);
  });

  it('leaves ordinary fields alone', () => {
    const { log, lines } = capture();
    log.info({ url: 'http://127.0.0.1:9464', topic: 'decisions', keyFile: 'k.json' }, 'serving');
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(line.url, 'http://127.0.0.1:9464');
    assert.equal(line.topic, 'decisions');
    assert.equal(line.keyFile, 'k.json');
    assert.equal(line.msg, 'serving');
  });
});
