import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { CAEP_EVENT_NAMES } from './settings';

/** Push latency buckets, 5 ms to 10 s: a receiver answers in tens of ms, pushTimeout caps it. */
const PUSH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What became of one push (the `outcome` label). */
export const PUSH_OUTCOMES = ['delivered', 'retry', 'rejected', 'dead'] as const;
export type PushOutcome = (typeof PUSH_OUTCOMES)[number];

/**
 * The CAEP transmitter's metrics, on the engine's registry. Labels are small closed sets (event,
 * outcome, reason); never a receiver, session or jti. Once per registry: prom-client refuses a
 * second metric of the same name.
 */
export function createCaepMetrics(registry: Registry, pending: () => Promise<number>) {
  const r = [registry];
  const metrics = {
    enqueued: new Counter({
      name: 'riskstream_caep_sets_enqueued_total',
      help: 'SETs stored in the outbox for delivery (a jti already pending or delivered is not counted), by CAEP event',
      labelNames: ['event'] as const,
      registers: r,
    }),
    pushes: new Counter({
      name: 'riskstream_caep_pushes_total',
      help: 'SET pushes by outcome: delivered (2xx), retry (failed, scheduled again), rejected (400 error: dead), dead (failed, attempts exhausted)',
      labelNames: ['outcome'] as const,
      registers: r,
    }),
    pushSeconds: new Histogram({
      name: 'riskstream_caep_push_seconds',
      help: 'Time of one SET push, from the request to the answer (or the failure)',
      buckets: PUSH_BUCKETS,
      registers: r,
    }),
    pending: new Gauge({
      name: 'riskstream_caep_outbox_pending',
      help: 'SETs in the outbox waiting for delivery (read from the outbox on scrape)',
      registers: r,
      async collect() {
        try {
          this.set(await pending());
        } catch {
          // the outbox is unreachable: keep the last value rather than fail the whole scrape
        }
      },
    }),
    dead: new Counter({
      name: 'riskstream_caep_dead_total',
      help: 'SETs moved to the dead set, by reason (rejected, exhausted, unconfigured)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
  };
  // Series exist from the start (at 0), so rate() and alerts see them before the first event.
  for (const event of CAEP_EVENT_NAMES) metrics.enqueued.inc({ event }, 0);
  for (const outcome of PUSH_OUTCOMES) metrics.pushes.inc({ outcome }, 0);
  for (const reason of ['rejected', 'exhausted', 'unconfigured']) metrics.dead.inc({ reason }, 0);
  return metrics;
}

/** The metrics createCaepMetrics made. */
export type CaepMetrics = ReturnType<typeof createCaepMetrics>;
