import type { Decision, OutputSink, RawRecord } from '../contract';
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

export interface BatchHandler {
  /** One batch, end to end: `process`, then `emit`. The caller commits input only after this resolves. */
  handle(records: readonly RawRecord[]): Promise<BatchResult>;
  /**
   * Every stage up to the decisions. The batch is with the session store when this returns, so
   * batches begun one after another update sessions in that order (see createPipeline).
   */
  process(records: readonly RawRecord[]): Promise<BatchResult>;
  /** Writes a processed batch's output, waits for the sink's acknowledgement, records metrics. */
  emit(records: readonly RawRecord[], result: BatchResult): Promise<void>;
}

const EMPTY: BatchResult = { outcomes: [], decisions: [], deadLetters: [], duplicates: 0 };

export function createBatchHandler(opts: HandlerOptions): BatchHandler {
  const now = opts.now ?? Date.now;
  const m = opts.metrics;

  function process(records: readonly RawRecord[]): Promise<BatchResult> {
    return records.length === 0 ? Promise.resolve(EMPTY) : opts.process(records);
  }

  async function emit(records: readonly RawRecord[], result: BatchResult): Promise<void> {
    if (records.length === 0) return;
    const out = (ds: readonly Decision[]) => (opts.emitAllow ? ds : ds.filter((d) => d.decision !== 'ALLOW'));
    const toEmit = out(result.decisions);
    const shadow = result.shadow ?? [];
    await timeStage(m, 'emit', () => opts.sink.write(toEmit, result.deadLetters, out(shadow)));
    if (m) {
      const acked = now();
      m.events.inc({ source: opts.source }, records.length);
      m.batchSize.observe(records.length);
      m.decisionsEmitted.inc(toEmit.length);
      m.duplicates.inc(result.duplicates);
      for (const d of result.decisions) m.decisions.inc({ decision: d.decision });
      for (const dl of result.deadLetters) m.deadLetters.inc({ reason: dl.reason_code });
      shadow.forEach((sd, i) => {
        m.shadowDecisions.inc({ decision: sd.decision });
        const active = result.decisions[i]!.decision;
        if (sd.decision !== active) m.shadowDisagreements.inc({ active, shadow: sd.decision });
      });
      for (const r of records) m.eventToDecision.observe(Math.max(0, acked - r.receivedAt) / 1000);
      m.lastBatchTimestamp.set(acked / 1000);
    }
    opts.onResult?.(result);
  }

  return {
    process,
    emit,
    async handle(records) {
      const result = await process(records);
      await emit(records, result);
      return result;
    },
  };
}
