import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Latency buckets from 0.5 ms to 10 s: event-to-decision budgets are tens of ms. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every Prometheus metric of the engine, created once on one registry. No per-session labels. */
export function createMetrics(registry: Registry = new Registry(), opts: { defaultMetrics?: boolean } = {}) {
  if (opts.defaultMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: 'riskstream_process_' });
  const r = [registry];
  const metrics = {
    registry,
    events: new Counter({
      name: 'riskstream_events_total',
      help: 'Input records consumed, valid or not',
      labelNames: ['source'] as const,
      registers: r,
    }),
    decisions: new Counter({
      name: 'riskstream_decisions_total',
      help: 'Decisions made, by response',
      labelNames: ['decision'] as const,
      registers: r,
    }),
    decisionsEmitted: new Counter({
      name: 'riskstream_decisions_emitted_total',
      help: 'Decisions written to the decisions sink (non-ALLOW, plus ALLOW when emitAllow is set)',
      registers: r,
    }),
    evidenceRecords: new Counter({
      name: 'riskstream_evidence_records_total',
      help: 'Evidence records written to the audit topic (sensitive actions and non-ALLOW decisions)',
      registers: r,
    }),
    duplicates: new Counter({
      name: 'riskstream_duplicate_events_total',
      help: 'Events whose event_id had been seen before: their stored window was reused, state unchanged',
      registers: r,
    }),
    deadLetters: new Counter({
      name: 'riskstream_dead_letters_total',
      help: 'Records sent to the dead-letter sink, by reason code',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    batchSize: new Histogram({
      name: 'riskstream_batch_size',
      help: 'Records per processed batch',
      buckets: [1, 8, 32, 128, 256, 512, 1024, 2048, 4096, 8192],
      registers: r,
    }),
    stageSeconds: new Histogram({
      name: 'riskstream_stage_seconds',
      help: 'Time per batch spent in each pipeline stage',
      labelNames: ['stage'] as const,
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    evaluateRequests: new Counter({
      name: 'riskstream_evaluate_requests_total',
      help: 'POST /v1/evaluate requests by HTTP status (200 decided; 4xx refused; 503 not ready or failed)',
      labelNames: ['status'] as const,
      registers: r,
    }),
    httpAuthFailures: new Counter({
      name: 'riskstream_http_auth_failures_total',
      help: 'HTTP requests refused for their credentials, by API (evaluate, analyst, admin) and status (401: none or not valid; 403: valid but not allowed there)',
      labelNames: ['route', 'status'] as const,
      registers: r,
    }),
    evaluateSeconds: new Histogram({
      name: 'riskstream_evaluate_seconds',
      help: 'POST /v1/evaluate: from the request body read to the answer (decided and, when publishing, acknowledged)',
      buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: r,
    }),
    eventToDecision: new Histogram({
      name: 'riskstream_event_to_decision_seconds',
      help: 'From the record reaching the broker (its Kafka timestamp) or the engine, to its decision being acknowledged',
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    redisRoundTrip: new Histogram({
      name: 'riskstream_redis_round_trip_seconds',
      help: 'One pipelined state update for a whole batch',
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    redisErrors: new Counter({
      name: 'riskstream_redis_errors_total',
      help: 'Failed session-store round trips (the batch is retried)',
      registers: r,
    }),
    batchErrors: new Counter({
      name: 'riskstream_batch_errors_total',
      help: 'Batches that failed and were retried, by error code',
      labelNames: ['code'] as const,
      registers: r,
    }),
    consumerLag: new Gauge({
      name: 'riskstream_consumer_lag',
      help: 'Messages behind the partition high watermark, as of the last batch',
      labelNames: ['topic', 'partition'] as const,
      registers: r,
    }),
    modelInfo: new Gauge({
      name: 'riskstream_model_info',
      help: 'The active model (value 1): name, version, feature version and inference backend',
      labelNames: ['name', 'version', 'feature_version', 'backend'] as const,
      registers: r,
    }),
    policyInfo: new Gauge({
      name: 'riskstream_policy_info',
      help: 'The policy in force (value 1): name, version and content hash',
      labelNames: ['name', 'version', 'hash'] as const,
      registers: r,
    }),
    policyReloads: new Counter({
      name: 'riskstream_policy_reloads_total',
      help: 'Policy file reloads while running, by outcome: swapped or invalid (the previous policy stays)',
      labelNames: ['outcome'] as const,
      registers: r,
    }),
    modelSwaps: new Counter({
      name: 'riskstream_model_swaps_total',
      help: 'Models swapped in without a restart (the registry pointer moved), by slot: active or shadow',
      labelNames: ['slot'] as const,
      registers: r,
    }),
    modelReloadErrors: new Counter({
      name: 'riskstream_model_reload_errors_total',
      help: 'Times a registry pointer named a version that could not be loaded (the current model kept serving)',
      labelNames: ['slot'] as const,
      registers: r,
    }),
    shadowModelInfo: new Gauge({
      name: 'riskstream_shadow_model_info',
      help: 'The shadow model (value 1), when one is configured: its decisions are counted and written, never enforced',
      labelNames: ['name', 'version', 'feature_version'] as const,
      registers: r,
    }),
    shadowDecisions: new Counter({
      name: 'riskstream_shadow_decisions_total',
      help: 'Decisions the shadow model would have made, by response',
      labelNames: ['decision'] as const,
      registers: r,
    }),
    shadowDisagreements: new Counter({
      name: 'riskstream_shadow_disagreements_total',
      help: 'Events where the shadow model would have answered differently than the active one',
      labelNames: ['active', 'shadow'] as const,
      registers: r,
    }),
    ready: new Gauge({
      name: 'riskstream_ready',
      help: '1 when Kafka, the session store and the model are all up',
      registers: r,
    }),
    lastBatchTimestamp: new Gauge({
      name: 'riskstream_last_batch_timestamp_seconds',
      help: 'Wall-clock time the last batch finished (for "scoring stalled" alerts)',
      registers: r,
    }),
    // Broker and Redis outages (issue 6): back-pressure, decisions without state, lost state.
    consumerPaused: new Gauge({
      name: 'riskstream_consumer_paused',
      help: '1 while fetching from Kafka is paused because a batch keeps failing (Redis or the broker down)',
      registers: r,
    }),
    consumerQueuedRecords: new Gauge({
      name: 'riskstream_consumer_queued_records',
      help: 'Records fetched and waiting for the pipeline (bounded by two batches: kafka.maxBatchRecords)',
      registers: r,
    }),
    degradedDecisions: new Counter({
      name: 'riskstream_degraded_decisions_total',
      help: "Decisions made without the session's state while Redis did not answer (redis.outage=decide), by response",
      labelNames: ['decision'] as const,
      registers: r,
    }),
    stateLost: new Counter({
      name: 'riskstream_state_lost_total',
      help: 'Times the session store was found to have lost its state (Redis restarted empty or flushed)',
      registers: r,
    }),
    lostSessions: new Counter({
      name: 'riskstream_lost_sessions_total',
      help: 'Sessions that went on without their state after a loss (answered with the policy outage.stateLost floors)',
      registers: r,
    }),
  };
  // Every answer that can happen exists from the start at 0, so increase() sees the first failure.
  for (const [route, status] of AUTH_FAILURES) metrics.httpAuthFailures.inc({ route, status }, 0);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The APIs that take credentials: riskstream_http_auth_failures_total's `route` label (bounded). */
export type AuthRoute = 'evaluate' | 'analyst' | 'admin';
/** The refusals each API can answer (only /admin/* knows a valid token it refuses: 403). */
const AUTH_FAILURES: [AuthRoute, string][] = [
  ['evaluate', '401'],
  ['analyst', '401'],
  ['admin', '401'],
  ['admin', '403'],
];

/** Counts a request refused for its credentials (no token, path or session id is ever a label). */
export function countAuthFailure(metrics: Metrics | undefined, route: AuthRoute, status: 401 | 403): void {
  metrics?.httpAuthFailures.inc({ route, status: String(status) });
}

/**
 * Times a stage of the pipeline into riskstream_stage_seconds. `fn` is called before this returns
 * (an async function runs synchronously up to its first await).
 */
export async function timeStage<T>(
  metrics: Metrics | undefined,
  stage: string,
  fn: () => Promise<T> | T,
): Promise<T> {
  const start = process.hrtime.bigint();
  try {
    return await fn();
  } finally {
    metrics?.stageSeconds.observe({ stage }, Number(process.hrtime.bigint() - start) / 1e9);
  }
}

/** timeStage for a stage that does not wait for anything. */
export function timeStageSync<T>(metrics: Metrics | undefined, stage: string, fn: () => T): T {
  const start = process.hrtime.bigint();
  try {
    return fn();
  } finally {
    metrics?.stageSeconds.observe({ stage }, Number(process.hrtime.bigint() - start) / 1e9);
  }
}
