import { Kafka, logLevel as KafkaLogLevel, type logCreator } from 'kafkajs';
import { resolveKafkaSecurity } from '../config/connections';
import type { Settings } from '../config/schema';
import type { Decision, DecisionType } from '../contract';
import { CaepTransmitter, registerCaepRoutes } from '../caep';
import { KafkaSink, producerTransport, threadTransport, type RecordTransport } from '../emit/kafka';
import { PRODUCER_OPTIONS, ProducerThread, type ThreadKafkaConfig } from '../emit/thread';
import { RiskStreamError } from '../errors';
import { registerEvaluateRoute } from '../http/evaluate';
import { registerInvestigationRoutes } from '../http/investigate';
import { registerUi } from '../http/ui';
import { resolveHttpSecurity } from '../http/security';
import { buildServer } from '../http/server';
import { LivePolicy } from '../policy/live';
import { startKafkaEngine } from '../ingest/kafka';
import type { Logger } from '../log';
import { createMetrics, type Metrics } from '../metrics/metrics';
import type { FastifyInstance } from 'fastify';
import { createBatchHandler } from '../pipeline/handler';
import { StoreOutage } from '../pipeline/outage';
import { LiveModel } from '../model/live';
import type { Scorer } from '../model/scorer';
import { activeVersion, shadowVersion } from '../model/registry';
import {
  buildModel,
  buildPipeline,
  buildRedisStore,
  connectRedis,
  loadModel,
  modelsDirOf,
  setModelInfo,
} from './context';

/** kafkajs logs through our logger, one level quieter (its INFO is chatty). */
function kafkaLogCreator(log: Logger): logCreator {
  return () =>
    ({ level, log: entry }) => {
      const { message, ...rest } = entry;
      const fields = { kafka: rest.logger ?? 'kafkajs', broker: rest.broker, error: rest.error };
      if (level === KafkaLogLevel.ERROR) log.error(fields, message);
      else if (level === KafkaLogLevel.WARN) log.warn(fields, message);
      else log.debug(fields, message);
    };
}

// At most 5 s between attempts: a broker that comes back is used again within seconds.
const KAFKA_RETRY = { initialRetryTime: 200, retries: 8, maxRetryTime: 5000 };

/**
 * What every Kafka client of the engine connects with, the producer thread's included: brokers,
 * timeouts, and TLS and SASL (kafka.ssl*, kafka.sasl*).
 */
export function kafkaClientConfig(kafka: Settings['kafka']): ThreadKafkaConfig {
  return {
    clientId: kafka.clientId,
    brokers: kafka.brokers,
    connectionTimeout: kafka.connectionTimeout,
    retry: KAFKA_RETRY,
    ...resolveKafkaSecurity(kafka),
  };
}

export function createKafka(settings: Settings, log: Logger): Kafka {
  return new Kafka({ ...kafkaClientConfig(settings.kafka), logCreator: kafkaLogCreator(log) });
}

/**
 * The producer: on its own thread (kafka.producerThread, the default) or on the main thread. Both
 * are connected here, so a broker that cannot be reached fails start-up.
 */
async function connectTransport(settings: Settings, kafka: Kafka): Promise<RecordTransport> {
  if (settings.kafka.producerThread) {
    const thread = new ProducerThread(kafkaClientConfig(settings.kafka));
    await thread.start();
    return threadTransport(thread);
  }
  const producer = kafka.producer(PRODUCER_OPTIONS);
  await producer.connect();
  return producerTransport(producer);
}

/** The per-response topics configured (kafka.stepUpTopic, blockTopic, terminateTopic). */
export function decisionRoutes(settings: Settings): Partial<Record<DecisionType, string>> {
  const { stepUpTopic, blockTopic, terminateTopic } = settings.kafka;
  return {
    ...(stepUpTopic ? { STEP_UP: stepUpTopic } : {}),
    ...(blockTopic ? { BLOCK_ACTION: blockTopic } : {}),
    ...(terminateTopic ? { TERMINATE: terminateTopic } : {}),
  };
}

/** Fails start-up when the input topic is missing; creates missing output topics. */
async function checkTopics(kafka: Kafka, settings: Settings, log: Logger): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    if (!existing.has(settings.kafka.actionsTopic)) {
      throw new RiskStreamError(
        'CONFIG_INVALID',
        `input topic "${settings.kafka.actionsTopic}" does not exist on ${settings.kafka.brokers.join(',')} (kafka.actionsTopic)`,
      );
    }
    const missing = [
      settings.kafka.decisionsTopic,
      settings.kafka.deadLetterTopic,
      settings.kafka.shadowTopic,
      ...(settings.evidence.enabled ? [settings.kafka.auditTopic] : []),
      ...Object.values(decisionRoutes(settings)),
    ].filter((t) => !existing.has(t));
    if (missing.length > 0) {
      log.info({ topics: missing }, 'creating missing output topics');
      await admin.createTopics({ topics: missing.map((topic) => ({ topic })), waitForLeaders: true });
    }
  } catch (err) {
    if (err instanceof RiskStreamError) throw err;
    if (saslRefused(err)) {
      throw new RiskStreamError(
        'KAFKA_UNAVAILABLE',
        `Kafka at ${settings.kafka.brokers.join(',')} refused SASL ${settings.kafka.saslMechanism} authentication as "${settings.kafka.saslUsername ?? ''}": check kafka.saslUsername, kafka.saslPassword (or kafka.saslPasswordFile) and kafka.saslMechanism`,
        { cause: err },
      );
    }
    throw new RiskStreamError(
      'KAFKA_UNAVAILABLE',
      `cannot reach Kafka at ${settings.kafka.brokers.join(',')} (kafka.brokers): ${(err as Error).message}`,
      { cause: err },
    );
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** A SASL refusal, perhaps wrapped by kafkajs's retries. */
function saslRefused(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; depth++, e = (e as { cause?: unknown }).cause) {
    if ((e as { name?: unknown }).name === 'KafkaJSSASLAuthenticationError') return true;
  }
  return false;
}

/**
 * The shadow slot: model.shadowVersion when set (fixed), else whatever models/<name>/SHADOW names,
 * followed like ACTIVE. A shadow that cannot be loaded at start-up fails start-up, as the active
 * model does; later, a bad pointer is logged and the slot keeps what it has.
 */
async function startShadow(settings: Settings, log: Logger, metrics: Metrics): Promise<LiveModel> {
  const fixed = settings.model.shadowVersion;
  const wanted = () => fixed ?? shadowVersion(modelsDirOf(settings), settings.model.name);
  const showShadow = (next: Scorer | null) => {
    metrics.shadowModelInfo.reset();
    if (next)
      metrics.shadowModelInfo.set(
        { name: next.name, version: next.version, feature_version: String(next.featureVersion) },
        1,
      );
  };
  const first = wanted();
  const slot = new LiveModel({
    slot: 'shadow',
    initial: first === null ? null : await loadModel(settings, first),
    wantedVersion: wanted,
    load: (version) => loadModel(settings, version),
    intervalMs: fixed ? 0 : settings.model.watchInterval,
    log,
    metrics,
    onSwap: showShadow,
  });
  const initial = slot.current;
  if (initial) {
    showShadow(initial);
    log.info({ version: initial.version, topic: settings.kafka.shadowTopic }, 'shadow model loaded');
  }
  return slot;
}

export interface RunningEngine {
  metrics: Metrics;
  /** The HTTP server (listening when http.enabled). */
  server: FastifyInstance;
  /** Finishes the chunk in flight, commits, closes every client. */
  stop(): Promise<void>;
}

/** Starts the streaming engine; everything it needs is created here from the settings. */
export async function startEngine(settings: Settings, log: Logger): Promise<RunningEngine> {
  // Everything opened so far, closed in reverse if start-up fails half way or on stop().
  const cleanups: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    for (const c of cleanups.splice(0)) {
      try {
        await c();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'error while closing');
      }
    }
  };
  try {
    const metrics = createMetrics();
    const pinned = settings.model.version;
    const live = new LiveModel({
      slot: 'active',
      initial: await buildModel(settings, log, metrics),
      // A version pinned in the settings is served as is; otherwise the registry pointer rules.
      wantedVersion: () => pinned ?? activeVersion(modelsDirOf(settings), settings.model.name),
      load: (version) => loadModel(settings, version),
      intervalMs: pinned ? 0 : settings.model.watchInterval,
      log,
      metrics,
      onSwap: (next) => next && setModelInfo(metrics, next),
    });
    cleanups.unshift(() => live.close());
    const shadow = await startShadow(settings, log, metrics);
    cleanups.unshift(() => shadow.close());
    live.start();
    shadow.start();
    const kafka = createKafka(settings, log);
    await checkTopics(kafka, settings, log);
    const redis = await connectRedis(settings.redis, log);
    cleanups.unshift(() => redis.disconnect());
    const store = buildRedisStore(redis, settings, metrics);
    // Redis outages: wait (hold and retry) or decide without state (redis.outage).
    const outage = new StoreOutage({
      mode: settings.redis.outage,
      afterMs: settings.redis.outageAfter,
      probe: () => store.ping(),
      log,
    });
    cleanups.unshift(() => outage.close());

    const transport = await connectTransport(settings, kafka);
    const sink = new KafkaSink(transport, {
      decisionsTopic: settings.kafka.decisionsTopic,
      deadLetterTopic: settings.kafka.deadLetterTopic,
      shadowTopic: settings.kafka.shadowTopic,
      ...(settings.evidence.enabled ? { auditTopic: settings.kafka.auditTopic } : {}),
      routes: decisionRoutes(settings),
      format: settings.kafka.outputFormat,
      deadLetterSchemaId: 3,
    });
    cleanups.unshift(() => sink.close());
    const policy = new LivePolicy({
      file: settings.policy.file,
      intervalMs: settings.policy.watchInterval,
      log,
      metrics,
    });
    policy.start();
    cleanups.unshift(() => policy.close());
    log.info({ policy: policy.current.id, source: policy.current.source }, 'policy loaded');
    let caep: CaepTransmitter | null = null;
    if (settings.caep.enabled) {
      caep = await CaepTransmitter.create(settings.caep, {
        redis,
        keyPrefix: settings.redis.keyPrefix,
        log,
        registry: metrics.registry,
        defaultIssuer: `http://${settings.http.host}:${settings.http.port}`,
      });
      caep.start();
      const t = caep;
      cleanups.unshift(() => t.close());
      log.info(
        { issuer: caep.issuer, receivers: settings.caep.receivers.length },
        'CAEP transmitter started',
      );
    }
    const handler = createBatchHandler({
      process: buildPipeline({
        settings,
        store,
        model: () => live.required(),
        shadow: () => shadow.current,
        policy: () => policy.current,
        format: settings.kafka.inputFormat,
        allowJson: settings.kafka.allowJson || settings.kafka.inputFormat === 'json',
        outage,
        metrics,
      }),
      sink,
      // A session is revoked once: the answers to its later actions (friction.terminated) send
      // nothing; nor do answers made without state (outage.withoutState), which are about the
      // action alone.
      ...(caep
        ? {
            followUp: (ds: readonly Decision[]) =>
              (caep as CaepTransmitter).publish(
                ds.filter(
                  (d) =>
                    d.policy_rule !== 'friction.terminated' &&
                    !(d.policy_rule ?? '').startsWith('outage.withoutState.'),
                ),
              ),
          }
        : {}),
      emitAllow: settings.kafka.emitAllow,
      outage,
      metrics,
      source: 'kafka',
    });

    /** The code of the batch failing now (null while batches go through). */
    let failing: string | null = null;
    const engine = await startKafkaEngine({
      kafka,
      groupId: settings.kafka.groupId,
      topic: settings.kafka.actionsTopic,
      fromBeginning: settings.kafka.fromBeginning,
      sessionTimeoutMs: settings.kafka.sessionTimeout,
      maxBytesPerPartition: settings.kafka.maxBytesPerPartition,
      partitionsConsumedConcurrently: settings.kafka.partitionsConsumedConcurrently,
      maxBatchRecords: settings.kafka.maxBatchRecords,
      batchesInFlight: settings.kafka.batchesInFlight,
      handler,
      metrics,
      log,
      onHealth: (healthy, why, code) => {
        failing = healthy ? null : (code ?? 'UNEXPECTED');
        if (!healthy) log.warn({ why }, 'engine not making progress');
      },
      // A batch held by Redis is tried again as soon as Redis answers (or decisions go without it).
      retryNow: (code) => code === 'STORE_UNAVAILABLE' && outage.retryNow(),
    });

    // Kafka: the group joined, the brokers answering, and no batch failing on the broker (a batch
    // failing on Redis makes only the redis check fail).
    const readiness = [
      {
        name: 'kafka',
        check: () =>
          engine.joined() && engine.inContact() && (failing === null || failing.startsWith('STORE_')),
      },
      { name: 'redis', check: () => store.ping() },
      { name: 'model', check: () => live.current !== null },
    ];
    // riskstream_ready follows readiness every second, whether or not anything asks /readyz.
    let checking = false;
    const readyTimer = setInterval(() => {
      if (checking) return;
      checking = true;
      void Promise.all(readiness.map((c) => Promise.resolve(c.check()).catch(() => false)))
        .then((ok) => metrics.ready.set(ok.every(Boolean) ? 1 : 0))
        .finally(() => (checking = false));
    }, 1000);
    readyTimer.unref();
    cleanups.unshift(() => clearInterval(readyTimer));
    // The consumer stops first: it finishes the chunk in flight, which still needs the sink and Redis.
    cleanups.unshift(() => engine.stop());

    const security = resolveHttpSecurity(settings.http);
    const server = buildServer({
      ...(security.https ? { https: security.https } : {}),
      reloadPolicy: () => policy.reload(),
      metrics,
      adminTokens: security.adminTokens,
      analystTokens: security.analystTokens,
      adminOpen: security.adminOpen,
      routes: [
        (app: FastifyInstance) => {
          registerInvestigationRoutes(app, {
            store,
            analystTokens: security.analystTokens,
            adminTokens: security.adminTokens,
            open: security.analystOpen,
            metrics,
            log,
          });
          registerUi(app);
        },
        ...(caep ? [(app: FastifyInstance) => registerCaepRoutes(app, caep as CaepTransmitter)] : []),
        ...(settings.http.evaluate
          ? [
              (app: FastifyInstance) =>
                registerEvaluateRoute(app, {
                  handler,
                  publish: settings.http.evaluatePublish,
                  publishAllow: settings.kafka.emitAllow,
                  tokens: security.tokens,
                  clientCerts: security.clientCerts,
                  maxBytes: settings.input.maxRecordBytes,
                  maxBatch: settings.http.evaluateMaxBatch,
                  // With redis.outage=decide, inline requests are answered without state too.
                  ready: () => (redis.status === 'ready' || outage.degraded()) && live.current !== null,
                  metrics,
                  log,
                }),
            ]
          : []),
      ],
      registry: metrics.registry,
      readiness,
      info: () => ({
        model: live.required().version,
        backend: live.required().backend,
        shadow: shadow.current?.version ?? null,
        policy: policy.current.id,
      }),
      reloadModel: async () => ({ ...(await live.check()), shadow: await shadow.check() }),
      onReady: (ready) => metrics.ready.set(ready ? 1 : 0),
    });
    cleanups.splice(1, 0, () => server.close());
    if (settings.http.enabled) {
      await server.listen({ host: settings.http.host, port: settings.http.port });
      const scheme = security.https ? 'https' : 'http';
      log.info(
        {
          url: `${scheme}://${settings.http.host}:${settings.http.port}`,
          evaluate: settings.http.evaluate
            ? security.tokens.length > 0 || security.clientCerts
              ? 'authenticated'
              : 'open (loopback)'
            : 'off',
        },
        'serving /metrics /healthz /readyz /v1/evaluate',
      );
    }
    log.info({ topic: settings.kafka.actionsTopic, group: settings.kafka.groupId }, 'engine running');
    return { metrics, server, stop: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** `risk-stream run`: runs until SIGTERM/SIGINT, then shuts down within the grace period. */
export async function runEngine(
  settings: Settings,
  log: Logger,
  opts: { graceMs?: number } = {},
): Promise<void> {
  const engine = await startEngine(settings, log);
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down: finishing the batch in flight');
      resolve();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  const graceMs = opts.graceMs ?? 30_000;
  const timer = setTimeout(() => {
    log.error({ graceMs }, 'shutdown grace period exceeded: exiting');
    process.exit(1);
  }, graceMs);
  timer.unref();
  await engine.stop();
  clearTimeout(timer);
  log.info('stopped');
}
