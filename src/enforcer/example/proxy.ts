import { randomBytes } from 'node:crypto';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { createLogger } from '../../log';
import { EnforcerClient, type EnforcerClientOptions } from '../client';
import { EngineClient } from '../engine';
import { buildProxy, type InlineStats, type ProxyDeps } from './proxy-app';
import { ActionPublisher } from './publisher';
import { startToyApp, type Running } from './toy-app';

export { buildProxy, type InlineStats, type ProxyDeps } from './proxy-app';

/**
 * The example proxy, started: a Kafka producer for the actions, an EnforcerClient on the decisions,
 * an EngineClient for the inline API, around buildProxy (proxy-app.ts, which says what the proxy
 * does). Run it with `node dist/src/enforcer/example/proxy.js` (see main below for the environment).
 */

export interface ProxyOptions
  extends
    Omit<ProxyDeps, 'enforcer' | 'publish' | 'engine'>,
    Pick<EnforcerClientOptions, 'stepUpTtlMs' | 'blockTtlMs' | 'terminateTtlMs' | 'maxSessions'> {
  brokers: string[];
  /** @default 'session-actions' */
  actionsTopic?: string;
  /** @default 'decisions' */
  decisionsTopic?: string;
  /** The engine's base URL for POST /v1/evaluate; none: no inline evaluation. */
  engineUrl?: string | null;
  /** Bearer token for the engine. */
  engineToken?: string;
  /** Listen address. @default '127.0.0.1' */
  host?: string;
  /** @default 0 (any free port) */
  port?: number;
  /** Wait this long at start for the decisions of the replay window to be applied. @default 10 s */
  replayWaitMs?: number;
}

export interface RunningProxy extends Running {
  enforcer: EnforcerClient;
  /** Waits until every action published so far is acknowledged by the broker. */
  flush(): Promise<void>;
  stats(): {
    enforcer: ReturnType<EnforcerClient['stats']>;
    inline: InlineStats;
    published: number;
    publishFailed: number;
  };
}

/** Starts the proxy: connects to Kafka, rebuilds the enforcement state, then listens. */
export async function startProxy(opts: ProxyOptions): Promise<RunningProxy> {
  const kafka = new Kafka({ clientId: 'toy-crm-proxy', brokers: opts.brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const enforcer = new EnforcerClient({
    kafka,
    topic: opts.decisionsTopic ?? 'decisions',
    stepUpTtlMs: opts.stepUpTtlMs,
    blockTtlMs: opts.blockTtlMs,
    terminateTtlMs: opts.terminateTtlMs,
    maxSessions: opts.maxSessions,
    logger: opts.logger,
  });
  await producer.connect();
  try {
    await enforcer.start();
  } catch (err) {
    await producer.disconnect();
    throw err;
  }
  if (!(await enforcer.replayed(opts.replayWaitMs ?? 10_000))) {
    opts.logger?.warn({}, 'decisions replay not finished; serving anyway');
  }
  const publisher = new ActionPublisher(producer, opts.actionsTopic ?? 'session-actions', opts.logger);
  const engine = opts.engineUrl ? new EngineClient({ url: opts.engineUrl, token: opts.engineToken }) : null;
  if (engine && !(await engine.warmUp())) {
    opts.logger?.warn(
      { engine: opts.engineUrl },
      'engine does not answer /healthz yet; inline checks will fail until it does',
    );
  }
  const { app, inlineStats } = buildProxy({
    ...opts,
    enforcer,
    engine,
    publish: (a) => publisher.publish(a),
  });
  let url: string;
  try {
    url = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
  } catch (err) {
    await producer.disconnect();
    await enforcer.stop();
    throw err;
  }
  return {
    url,
    enforcer,
    flush: () => publisher.flush(),
    stats: () => ({
      enforcer: enforcer.stats(),
      inline: inlineStats(),
      published: publisher.stats().published,
      publishFailed: publisher.stats().failed,
    }),
    async close() {
      await app.close();
      await publisher.flush();
      await producer.disconnect();
      await enforcer.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// node dist/src/enforcer/example/proxy.js: the toy app and the proxy, configured by environment:
// KAFKA_BROKERS, ACTIONS_TOPIC, DECISIONS_TOPIC, ENGINE_URL (none: no inline evaluation),
// ENGINE_TOKEN, INLINE_TIMEOUT_MS, INLINE_FAIL_CLOSED (sensitive | all | none), TRUSTED_PROXIES,
// PROXY_HOST, PROXY_PORT, UPSTREAM_URL (none: the toy app is started on TOY_APP_PORT),
// TOKEN_SECRET (shared with the app; random when the toy app runs here), LOG_LEVEL
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const env = process.env;
  const log = createLogger(env.LOG_LEVEL ?? 'info', 'toy-crm-proxy');
  const brokers = (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const actionsTopic = env.ACTIONS_TOPIC ?? 'session-actions';
  const decisionsTopic = env.DECISIONS_TOPIC ?? 'decisions';
  const tokenSecret = env.TOKEN_SECRET ?? randomBytes(32).toString('hex');
  let toy: Running | undefined;
  let upstream = env.UPSTREAM_URL;
  if (!upstream) {
    toy = await startToyApp({ tokenSecret, port: Number(env.TOY_APP_PORT ?? 8081) });
    upstream = toy.url;
  }
  // Both topics must exist before the engine and the proxy start; create them for the walk-through.
  const admin = new Kafka({ clientId: 'toy-crm-proxy', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  const missing = [actionsTopic, decisionsTopic].filter((t) => !existing.has(t));
  if (missing.length > 0)
    await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 3 })) });
  await admin.disconnect();

  const failClosed = env.INLINE_FAIL_CLOSED ?? 'sensitive';
  if (!['sensitive', 'all', 'none'].includes(failClosed)) {
    throw new RangeError(`INLINE_FAIL_CLOSED must be sensitive, all or none (got ${failClosed})`);
  }
  const proxy = await startProxy({
    upstream,
    tokenSecret,
    brokers,
    actionsTopic,
    decisionsTopic,
    engineUrl: env.ENGINE_URL || null,
    engineToken: env.ENGINE_TOKEN,
    inlineTimeoutMs: env.INLINE_TIMEOUT_MS ? Number(env.INLINE_TIMEOUT_MS) : undefined,
    failClosedSensitive: failClosed !== 'none',
    failClosedOther: failClosed === 'all',
    trustedProxies: env.TRUSTED_PROXIES ? env.TRUSTED_PROXIES.split(',') : undefined,
    host: env.PROXY_HOST ?? '127.0.0.1',
    port: Number(env.PROXY_PORT ?? 8080),
    logger: log,
  });
  log.info(
    { proxy: proxy.url, app: upstream, engine: env.ENGINE_URL ?? null, brokers },
    'toy-crm proxy listening',
  );
  const stop = () => {
    void (async () => {
      await proxy.close();
      await toy?.close();
      process.exit(0);
    })();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
