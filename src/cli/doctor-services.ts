import { createConnection } from 'node:net';
import { Redis } from 'ioredis';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { resolveKafkaSecurity, resolveRedisConnection, type KafkaSecurity } from '../config/connections';
import type { Settings } from '../config/schema';
import {
  describeNetworkError,
  evictionRisk,
  explainKafkaError,
  explainRedisError,
  fail,
  hostPort,
  ok,
  parseInfo,
  warn,
  type CheckResult,
} from './diagnose';

/** `risk-stream doctor`'s checks of the services `run` connects to: Kafka (and the topics) and Redis. */

export type Probe = { ms: number } | { error: unknown };

/** Opens (and closes) a TCP connection. */
export function probeTcp(host: string, port: number, timeoutMs: number): Promise<Probe> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = createConnection({ host, port });
    const done = (p: Probe) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(p);
    };
    const timer = setTimeout(
      () => done({ error: Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }) }),
      timeoutMs,
    );
    socket.once('connect', () => done({ ms: performance.now() - started }));
    socket.once('error', (error) => done({ error }));
  });
}

export const ms = (n: number) => `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`;

export async function checkKafka(settings: Settings, t: number): Promise<CheckResult[]> {
  const bootstrap = settings.kafka.brokers;
  const bad = bootstrap.filter((b) => hostPort(b) === null);
  if (bad.length > 0) {
    return [
      fail(
        'kafka',
        `kafka.brokers: ${bad.join(', ')} is not host:port`,
        'write each broker as host:port, comma separated',
      ),
    ];
  }
  const probes = await Promise.all(
    bootstrap.map(async (b) => {
      const { host, port } = hostPort(b) as { host: string; port: number };
      return [b, await probeTcp(host, port, t)] as const;
    }),
  );
  const reached = probes.filter(([, p]) => 'ms' in p);
  const missed = probes.flatMap(([b, p]) =>
    'error' in p ? [`${b} (${describeNetworkError(p.error, t)})`] : [],
  );
  if (reached.length === 0) {
    return [
      fail(
        'kafka',
        `cannot reach Kafka at ${missed.join(', ')}`,
        'start the broker, or correct kafka.brokers (env RISK_STREAM_KAFKA_BROKERS, flag --brokers); the topics are checked once Kafka answers',
      ),
    ];
  }
  const brokers = reached.map(([b]) => b);
  const security = resolveKafkaSecurity(settings.kafka);
  const kafka = new Kafka({
    clientId: settings.kafka.clientId,
    brokers,
    connectionTimeout: t,
    requestTimeout: t,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
    ...security,
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    // The engine talks to the addresses brokers advertise, not to the bootstrap list.
    const advertised = cluster.brokers.map((b) => ({ id: b.nodeId, address: `${b.host}:${b.port}` }));
    const unreachable = (
      await Promise.all(
        advertised.map(async (b) => {
          const hp = hostPort(b.address);
          const p = hp ? await probeTcp(hp.host, hp.port, t) : { error: new Error('not host:port') };
          return 'error' in p ? [`broker ${b.id} at ${b.address} (${describeNetworkError(p.error, t)})`] : [];
        }),
      )
    ).flat();
    const firstMs = (reached[0]?.[1] as { ms: number }).ms;
    const summary = `reached ${brokers.join(', ')} in ${ms(firstMs)}${describeSecurity(security)}; cluster ${cluster.clusterId}, ${advertised.length} broker${advertised.length === 1 ? '' : 's'} (${advertised.map((b) => `${b.id} at ${b.address}`).join(', ')})`;
    const kafkaCheck =
      unreachable.length > 0
        ? fail(
            'kafka',
            `${summary}, but these advertised brokers cannot be reached from here: ${unreachable.join(', ')}`,
            "the brokers' advertised.listeners must name addresses clients can reach: the engine produces and consumes through them",
          )
        : missed.length > 0
          ? warn(
              'kafka',
              `${summary}; cannot reach bootstrap ${missed.join(', ')}`,
              'remove or correct those entries of kafka.brokers',
            )
          : ok('kafka', summary);
    // PLAIN sends the password as it is: readable on the wire without TLS.
    const clearText =
      security.sasl?.mechanism === 'plain' && !security.ssl
        ? [
            warn(
              'kafka sasl',
              'SASL plain without kafka.ssl: the password crosses the network in clear text',
              'connect to a SASL_SSL listener with kafka.ssl true, or use scram-sha-256 / scram-sha-512',
            ),
          ]
        : [];
    return [kafkaCheck, ...clearText, await checkTopics(admin, settings)];
  } catch (err) {
    const { detail, fix } = explainKafkaError(err, brokers.join(', '), t);
    const also = missed.length > 0 ? `; cannot reach ${missed.join(', ')} either` : '';
    return [fail('kafka', detail + also, fix)];
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** `, over TLS, SASL scram-sha-512 as "risk"` (the user name is no secret), or nothing for plaintext. */
function describeSecurity(security: KafkaSecurity): string {
  const parts = [
    ...(security.ssl ? ['over TLS'] : []),
    ...(security.sasl ? [`SASL ${security.sasl.mechanism} as "${security.sasl.username}"`] : []),
  ];
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** Every topic setting (kafka.*Topic): the actions topic must exist, `run` creates the others. */
async function checkTopics(admin: Admin, settings: Settings): Promise<CheckResult> {
  const existing = new Set(await admin.listTopics());
  const input = settings.kafka.actionsTopic;
  const outputs = Object.entries(settings.kafka).filter(
    (e): e is [string, string] =>
      e[0].endsWith('Topic') && e[0] !== 'actionsTopic' && typeof e[1] === 'string',
  );
  const missingOut = outputs.filter(([, topic]) => !existing.has(topic));
  const created = missingOut.length
    ? `; missing output topic${missingOut.length === 1 ? '' : 's'} ${missingOut.map(([k, topic]) => `"${topic}" (kafka.${k})`).join(', ')}, which \`run\` creates at start-up`
    : '';
  if (!existing.has(input)) {
    return fail(
      'kafka topics',
      `input topic "${input}" (kafka.actionsTopic) does not exist${created}`,
      `create it (e.g. kafka-topics.sh --bootstrap-server ${settings.kafka.brokers[0]} --create --topic ${input} --partitions 6) or set kafka.actionsTopic to the topic your producers write; \`run\` never creates the input topic`,
    );
  }
  const meta = await admin.fetchTopicMetadata({ topics: [input] });
  const partitions = meta.topics[0]?.partitions.length ?? 0;
  const present = outputs.filter(([, topic]) => existing.has(topic)).map(([, topic]) => topic);
  const detail = `input "${input}" (${partitions} partition${partitions === 1 ? '' : 's'})${present.length ? `, ${present.map((p) => `"${p}"`).join(', ')}` : ''} exist${created}`;
  return missingOut.length > 0
    ? warn(
        'kafka topics',
        detail,
        'nothing to do if `run` may create topics (its client needs the create permission); create them yourself to choose partitions and replication',
      )
    : ok('kafka topics', detail);
}

export async function checkRedis(redis: Settings['redis'], t: number): Promise<CheckResult[]> {
  const conn = resolveRedisConnection(redis);
  const masked = conn.shown;
  const client = new Redis(conn.url, {
    ...conn.options,
    lazyConnect: true,
    connectTimeout: t,
    commandTimeout: t,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    reconnectOnError: () => false,
  });
  // With no retries, connect() only says "Connection is closed"; the reason comes as an event.
  let lastError: unknown;
  client.on('error', (err: unknown) => (lastError = err));
  try {
    try {
      await client.connect();
    } catch (err) {
      const { detail, fix } = explainRedisError(lastError ?? err, masked, t, conn.credentialsFrom);
      return [fail('redis', detail, fix)];
    }
    const started = performance.now();
    await client.ping();
    const pingMs = performance.now() - started;
    const server = parseInfo(await client.info('server'));
    const memory = parseInfo(await client.info('memory'));
    const policy = memory.maxmemory_policy ?? 'unknown';
    const limit = Number(memory.maxmemory ?? 0) > 0 ? (memory.maxmemory_human ?? memory.maxmemory) : 'none';
    const mode = server.redis_mode && server.redis_mode !== 'standalone' ? `, ${server.redis_mode} mode` : '';
    const risk = evictionRisk(policy);
    return [
      ok(
        'redis',
        `${masked}${conn.options.tls ? ' (TLS)' : ''}: PING ${ms(pingMs)}, Redis ${server.redis_version ?? 'unknown version'}${mode}`,
      ),
      risk
        ? warn(
            'redis eviction',
            `${risk} (maxmemory ${limit})`,
            'set maxmemory-policy noeviction on this Redis (a full Redis then fails writes, which the engine retries, instead of silently forgetting sessions), or give it memory to spare',
          )
        : ok(
            'redis eviction',
            `maxmemory-policy ${policy} (maxmemory ${limit}): session state is never evicted`,
          ),
    ];
  } catch (err) {
    const { detail, fix } = explainRedisError(err, masked, t, conn.credentialsFrom);
    return [fail('redis', detail, fix)];
  } finally {
    client.disconnect();
  }
}
