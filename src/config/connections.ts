import fs from 'node:fs';
import { RiskStreamError } from '../errors';
import { maskUrl } from '../log';
import type { Settings } from './schema';

/**
 * How the engine's Kafka and Redis clients authenticate and encrypt, from the settings: PEM and
 * secret files read, the combination checked, and a start-up failure naming the setting (never its
 * value) when it does not add up. Called once by loadSettings and again by whatever builds a client.
 */

/** `kafka.saslPassword` -> `RISK_STREAM_KAFKA_SASL_PASSWORD` (config/load's envName, for two-part paths). */
const envOf = (setting: string) =>
  'RISK_STREAM_' +
  setting
    .replace('.', '_')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase();

const bad = (setting: string, why: string) =>
  new RiskStreamError('CONFIG_INVALID', `invalid setting ${setting} (env ${envOf(setting)}): ${why}`);

function readText(file: string, setting: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw bad(setting, `cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * A password given inline or as a file (the file's trailing newlines dropped: `echo pw > file`),
 * never both. Undefined when neither is set.
 */
function secret(inline: string | undefined, file: string | undefined, setting: string): string | undefined {
  if (inline !== undefined && file !== undefined) {
    throw bad(setting, `set ${setting} or ${setting}File, not both`);
  }
  if (file === undefined) return inline;
  const value = readText(file, `${setting}File`).replace(/[\r\n]+$/, '');
  if (value === '') throw bad(`${setting}File`, `${file} is empty`);
  return value;
}

export type SaslMechanism = Exclude<Settings['kafka']['saslMechanism'], 'none'>;
/** One object type per mechanism, as kafkajs's SASLOptions is. */
export type KafkaSasl = {
  [M in SaslMechanism]: { mechanism: M; username: string; password: string };
}[SaslMechanism];

/**
 * The TLS and SASL part of a kafkajs client configuration (KafkaConfig's `ssl` and `sasl`). Plain
 * data (PEM as strings), so it also crosses to the producer thread.
 */
export interface KafkaSecurity {
  ssl?: { ca?: string; cert?: string; key?: string };
  sasl?: KafkaSasl;
}

export function resolveKafkaSecurity(kafka: Settings['kafka']): KafkaSecurity {
  const files = (['sslCa', 'sslCert', 'sslKey'] as const).filter((k) => kafka[k] !== undefined);
  if (!kafka.ssl && files.length > 0) {
    throw bad(
      'kafka.ssl',
      `kafka.${files[0]} is set but kafka.ssl is false: set kafka.ssl to true to connect over TLS`,
    );
  }
  if ((kafka.sslCert === undefined) !== (kafka.sslKey === undefined)) {
    const missing = kafka.sslCert === undefined ? 'kafka.sslCert' : 'kafka.sslKey';
    throw bad(missing, 'a client certificate needs both kafka.sslCert and kafka.sslKey');
  }
  const ssl = kafka.ssl
    ? {
        ...(kafka.sslCa !== undefined ? { ca: readText(kafka.sslCa, 'kafka.sslCa') } : {}),
        ...(kafka.sslCert !== undefined ? { cert: readText(kafka.sslCert, 'kafka.sslCert') } : {}),
        ...(kafka.sslKey !== undefined ? { key: readText(kafka.sslKey, 'kafka.sslKey') } : {}),
      }
    : undefined;

  const password = secret(kafka.saslPassword, kafka.saslPasswordFile, 'kafka.saslPassword');
  const mechanism = kafka.saslMechanism;
  if (mechanism === 'none') {
    // Credentials that would silently not be used: the broker would refuse the client anyway.
    if (kafka.saslUsername !== undefined || password !== undefined) {
      throw bad(
        'kafka.saslMechanism',
        'a SASL user name or password is set but kafka.saslMechanism is none: set it to plain, scram-sha-256 or scram-sha-512',
      );
    }
    return ssl ? { ssl } : {};
  }
  if (kafka.saslUsername === undefined)
    throw bad('kafka.saslUsername', `SASL ${mechanism} needs a user name`);
  if (password === undefined) {
    throw bad('kafka.saslPassword', `SASL ${mechanism} needs kafka.saslPassword or kafka.saslPasswordFile`);
  }
  return { ...(ssl ? { ssl } : {}), sasl: { mechanism, username: kafka.saslUsername, password } };
}

/** Where a Redis client connects and how it authenticates. */
export interface RedisConnection {
  /** The URL to connect to, its credentials taken out (they are in `options`). */
  url: string;
  /** The URL as configured, its password masked: for messages. */
  shown: string;
  /** ioredis options (taking precedence over the URL's). */
  options: { username?: string; password?: string; tls?: { ca?: string } };
  /** The settings the credentials come from, for messages (empty: none are sent). */
  credentialsFrom: string[];
}

const REDIS_URL = /^rediss?:\/\//i;

/**
 * Redis credentials and TLS: redis.username and redis.password (or redis.passwordFile) override
 * the user and password of the URL; TLS with redis.tls or a rediss:// URL. `url` replaces redis.url
 * (replay --redis); the other settings still apply.
 */
export function resolveRedisConnection(redis: Settings['redis'], url: string = redis.url): RedisConnection {
  const shown = maskUrl(url);
  const password = secret(redis.password, redis.passwordFile, 'redis.password');
  let bare = url;
  let fromUrl: { username?: string; password?: string } = {};
  if (REDIS_URL.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw bad('redis.url', `${shown} is not a URL (redis://[user:password@]host:port[/db])`);
    }
    fromUrl = {
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    };
    parsed.username = '';
    parsed.password = '';
    bare = parsed.toString();
  }
  const tls = redis.tls || /^rediss:/i.test(url);
  if (redis.tlsCa !== undefined && !tls) {
    throw bad(
      'redis.tls',
      'redis.tlsCa is set but the connection is not TLS: set redis.tls to true or use a rediss:// URL',
    );
  }
  const username = redis.username ?? fromUrl.username;
  const pass = password ?? fromUrl.password;
  const credentialsFrom = [
    ...(redis.username !== undefined ? ['redis.username'] : []),
    ...(redis.password !== undefined ? ['redis.password'] : []),
    ...(redis.passwordFile !== undefined ? ['redis.passwordFile'] : []),
    ...((fromUrl.username !== undefined && redis.username === undefined) ||
    (fromUrl.password !== undefined && password === undefined)
      ? ['redis.url']
      : []),
  ];
  return {
    url: bare,
    shown,
    options: {
      ...(username !== undefined ? { username } : {}),
      ...(pass !== undefined ? { password: pass } : {}),
      ...(tls ? { tls: redis.tlsCa !== undefined ? { ca: readText(redis.tlsCa, 'redis.tlsCa') } : {} } : {}),
    },
    credentialsFrom,
  };
}

/** The settings named, with their variables: `redis.password (env RISK_STREAM_REDIS_PASSWORD)`. */
export const withEnv = (settings: readonly string[]): string =>
  settings.map((s) => `${s} (env ${envOf(s)})`).join(' and ');
