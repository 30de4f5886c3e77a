import { Redis } from 'ioredis';
import type { SessionStore } from '../contract';
import { builtinPolicy, loadPolicyFile, type CompiledPolicy } from '../policy/compile';
import { resolveRedisConnection } from '../config/connections';
import type { Settings } from '../config/schema';
import { RiskStreamError } from '../errors';
import { FEATURE_NAMES, FEATURE_VERSION } from '../features/extract';
import { createActionDecoder } from '../ingest/decode';
import { loadSchemaRegistry } from '../ingest/schemas';
import type { Logger } from '../log';
import { explainRedisError } from './diagnose';
import type { Metrics } from '../metrics/metrics';
import { defaultModelsDir } from '../model/registry';
import { loadScorer, type Scorer } from '../model/scorer';
import { initBackend } from '../model/backend';
import type { StoreOutage } from '../pipeline/outage';
import { INLINE_SOURCE, createPipeline, type ProcessBatch, type ScoringModel } from '../pipeline/process';
import { MemorySessionStore } from '../state/memory';
import { RedisSessionStore } from '../state/redis';

/** Loads the model named in the settings on the configured backend, or fails start-up saying why. */
/** Loads a version of the configured model (the ACTIVE one when none is given), checked against the features. */
export function loadModel(settings: Settings, version?: string): Promise<Scorer> {
  return loadScorer({
    modelsDir: modelsDirOf(settings),
    name: settings.model.name,
    ...(version ? { version } : {}),
    expectedFeatureVersion: FEATURE_VERSION,
    expectedFeatureNames: FEATURE_NAMES,
  });
}

export const modelsDirOf = (settings: Settings): string => settings.model.dir ?? defaultModelsDir();

export async function buildModel(settings: Settings, log: Logger, metrics?: Metrics): Promise<Scorer> {
  const backend = await initBackend(settings.model.backend, log);
  for (const t of backend.tried)
    log.info({ backend: t.name, error: t.error }, 'inference backend not available');
  const scorer = await loadModel(settings, settings.model.version);
  log.info(
    {
      model: scorer.name,
      version: scorer.version,
      featureVersion: scorer.featureVersion,
      backend: scorer.backend,
    },
    'model loaded',
  );
  if (metrics) setModelInfo(metrics, scorer);
  return scorer;
}

/** riskstream_model_info names the model being served (one series). */
export function setModelInfo(metrics: Metrics, scorer: Scorer): void {
  metrics.modelInfo.reset();
  metrics.modelInfo.set(
    {
      name: scorer.name,
      version: scorer.version,
      feature_version: String(scorer.featureVersion),
      backend: scorer.backend,
    },
    1,
  );
}

/**
 * Connects to Redis (redis.url, or `url` instead, with the credentials and TLS of the redis.*
 * settings) and checks it answers, failing start-up with the URL (password masked), the reason and
 * the settings to look at, instead of retrying forever in the background.
 */
export async function connectRedis(redis: Settings['redis'], log: Logger, url?: string): Promise<Redis> {
  const conn = resolveRedisConnection(redis, url);
  const client = new Redis(conn.url, {
    ...conn.options,
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: false,
    connectTimeout: 5000,
    commandTimeout: 10_000,
    retryStrategy: (times) => Math.min(times * 200, 5000),
  });
  // A refused AUTH only says "Connection is closed" to connect(); the reason comes as an event.
  let lastError: Error | undefined;
  client.on('error', (err: Error) => {
    lastError = err;
    log.debug({ err: err.message }, 'redis connection error');
  });
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    const reason = lastError ?? (err as Error);
    const where = url === undefined ? ' (redis.url)' : '';
    if (/^(WRONGPASS|NOAUTH)/.test(reason.message)) {
      const { detail, fix } = explainRedisError(reason, conn.shown, 5000, conn.credentialsFrom);
      throw new RiskStreamError('STORE_UNAVAILABLE', `${detail}: ${fix}`, { cause: err });
    }
    throw new RiskStreamError(
      'STORE_UNAVAILABLE',
      `cannot reach Redis at ${conn.shown}${where}: ${reason.message}`,
      { cause: err },
    );
  }
  return client;
}

/** What both stores take from the settings: the window and ledger limits, the timeline's. */
function storeOptions(settings: Settings) {
  const { idleTtl, dedupeCap, dedupeTtl, maxDistinct, maxRing } = settings.redis;
  const { maxEntries, ttl, maxDecisions } = settings.timeline;
  return {
    idleTtlMs: idleTtl,
    dedupeCap,
    dedupeTtlMs: dedupeTtl,
    maxDistinct,
    maxRing,
    timeline: { maxEntries, ttlMs: ttl, maxDecisions },
  };
}

export function buildRedisStore(client: Redis, settings: Settings, metrics?: Metrics): SessionStore {
  return new RedisSessionStore(client, {
    ...storeOptions(settings),
    prefix: settings.redis.keyPrefix,
    onRoundTrip: (ms) => metrics?.redisRoundTrip.observe(ms / 1000),
    onStateLost: () => metrics?.stateLost.inc(),
  });
}

/** The in-memory store; `eventTime` for recorded events replayed faster than they happened. */
export function buildMemoryStore(settings: Settings, opts: { eventTime?: boolean } = {}): MemorySessionStore {
  return new MemorySessionStore({ ...storeOptions(settings), eventTime: opts.eventTime ?? false });
}

/** The policy the settings name (`policy.file`), or the built-in one; compiled once per file. */
export function activePolicy(settings: Settings): CompiledPolicy {
  const file = settings.policy.file;
  if (file === undefined) return builtinPolicy();
  let p = policyCache.get(file);
  if (!p) policyCache.set(file, (p = loadPolicyFile(file)));
  return p;
}
const policyCache = new Map<string, CompiledPolicy>();

export function buildPipeline(opts: {
  settings: Settings;
  store: SessionStore;
  model: () => Scorer;
  shadow?: () => ScoringModel | null;
  format: 'auto' | 'avro' | 'confluent' | 'json';
  allowJson: boolean;
  metrics?: Metrics;
  /** The policy per batch (the engine's hot-reloading one); default: `activePolicy(settings)`. */
  policy?: () => CompiledPolicy;
  /** Redis outages (`run`): decisions without the store (redis.outage=decide) and their catch-up. */
  outage?: StoreOutage;
}): ProcessBatch {
  const { settings } = opts;
  const registry = loadSchemaRegistry();
  const decoderFor = (format: 'auto' | 'avro' | 'confluent' | 'json', allowJson: boolean) =>
    createActionDecoder({
      format,
      allowJson,
      registry,
      maxRecordBytes: settings.input.maxRecordBytes,
      limits: { maxFutureMs: settings.input.maxFuture, maxPastMs: settings.input.maxPast },
    });
  const configured = decoderFor(opts.format, opts.allowJson);
  // The inline API always takes JSON, whatever the Kafka input format is.
  const json = decoderFor('json', true);
  const decoder: typeof configured = (raw, now) =>
    (raw.source === INLINE_SOURCE ? json : configured)(raw, now);
  return createPipeline({
    decode: decoder,
    store: opts.store,
    model: opts.model,
    ...(opts.shadow ? { shadow: opts.shadow } : {}),
    policy: opts.policy ?? (() => activePolicy(settings)),
    explain: { maxReasons: settings.policy.maxReasons, minReasonWeight: settings.policy.minReasonWeight },
    evidence: settings.evidence.enabled ? { minSensitivity: settings.evidence.minSensitivity } : null,
    timeline: settings.timeline.maxEntries > 0 || settings.timeline.maxDecisions > 0,
    ...(opts.outage ? { outage: opts.outage } : {}),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
  });
}
