import type { OutputSink, RawRecord } from '../contract';
import { timeStage, type Metrics } from '../metrics/metrics';
import type { BatchResult, ProcessBatch } from './process';

export interface HandlerOptions {
  process: ProcessBatch;
  sink: OutputSink;
  /** Write ALLOW decisions too (replay always does; the Kafka engine only when configured). */
  emitAllow: boolean;
  metrics?: Metrics;
  /** Label for riskstream_events_total. */
  source: string;
  now?: () => number;
  /** Called after the sink acknowledged, e.g. the demo's live view. */
  onResult?: (result: BatchResult) => void;
}

/**
 * One batch, end to end: process, write decisions and dead letters, wait for the sink's
 * acknowledgement, record metrics. The caller commits input offsets only after this resolves.
 */
export function createBatchHandler(opts: HandlerOptions) {
  const now = opts.now ?? Date.now;
  const m = opts.metrics;
  return async function handle(records: readonly RawRecord[]): Promise<BatchResult> {
    if (records.length === 0) return { outcomes: [], decisions: [], deadLetters: [], duplicates: 0 };
    const result = await opts.process(records);
    const toEmit = opts.emitAllow ? result.decisions : result.decisions.filter((d) => d.decision !== 'ALLOW');
    await timeStage(m, 'emit', () => opts.sink.write(toEmit, result.deadLetters));
    if (m) {
      const acked = now();
      m.events.inc({ source: opts.source }, records.length);
      m.batchSize.observe(records.length);
      m.decisionsEmitted.inc(toEmit.length);
      m.duplicates.inc(result.duplicates);
      for (const d of result.decisions) m.decisions.inc({ decision: d.decision });
      for (const dl of result.deadLetters) m.deadLetters.inc({ reason: dl.reason_code });
      for (const r of records) m.eventToDecision.observe(Math.max(0, acked - r.receivedAt) / 1000);
      m.lastBatchTimestamp.set(acked / 1000);
    }
    opts.onResult?.(result);
    return result;
  };
}

export type BatchHandler = ReturnType<typeof createBatchHandler>;
