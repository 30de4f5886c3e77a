import type { Decision, OutputSink, RawRecord } from '../contract';
import { timeStage, type Metrics } from '../metrics/metrics';
import { storeUnavailable, type StoreOutage } from './outage';
import { INLINE_SOURCE, type BatchResult, type ProcessBatch, type ProcessOptions } from './process';

export interface HandlerOptions {
  process: ProcessBatch;
  sink: OutputSink;
  /** Write ALLOW decisions too (replay always does; the Kafka engine only when configured). */
  emitAllow: boolean;
  metrics?: Metrics;
  /** Label for riskstream_events_total. */
  source: string;
  now?: () => number;
  /**
   * Durable follow-ups of the written decisions (CAEP Security Event Tokens): awaited after the
   * sink acknowledged and before the batch is settled, so a crash re-runs them (they are idempotent).
   */
  followUp?: (decisions: readonly Decision[]) => Promise<void>;
  /** Called after the sink acknowledged, e.g. the demo's live view. */
  onResult?: (result: BatchResult) => void;
  /**
   * Redis outages (the pipeline's): while decisions are made without the store, the follow-ups and
   * the settle of a batch that cannot reach it are put off until it answers, instead of holding
   * the batch.
   */
  outage?: StoreOutage;
}

export interface BatchHandler {
  /** One batch, end to end: `process`, then `emit`. The caller commits input only after this resolves. */
  handle(records: readonly RawRecord[]): Promise<BatchResult>;
  /**
   * Every stage up to the decisions. The batch is with the session store when this returns, so
   * batches begun one after another update sessions in that order (see createPipeline).
   */
  process(records: readonly RawRecord[], opts?: ProcessOptions): Promise<BatchResult>;
  /**
   * Writes a processed batch's output, waits for the sink's acknowledgement, runs the follow-ups,
   * settles the batch and records metrics. `onWritten` is called once the sink acknowledged.
   */
  emit(records: readonly RawRecord[], result: BatchResult, onWritten?: () => void): Promise<void>;
  /** The decisions `emit` writes for this batch. */
  toEmit(result: BatchResult): Decision[];
}

/**
 * Without emitAllow, ALLOW decisions stay unwritten, except the one for a passed step-up:
 * enforcement points lift the step-up they hold on it.
 */
const mustEmit = (d: Decision): boolean => d.decision !== 'ALLOW' || d.action === 'step_up_passed';

const EMPTY: BatchResult = { outcomes: [], decisions: [], deadLetters: [], duplicates: 0 };

/** How far emit got with a batch that failed after it (a retried emit goes on from there). */
const WRITTEN = 1;
const FOLLOWED_UP = 2;

export function createBatchHandler(opts: HandlerOptions): BatchHandler {
  const now = opts.now ?? Date.now;
  const m = opts.metrics;
  const progress = new WeakMap<BatchResult, number>();

  function process(records: readonly RawRecord[], how: ProcessOptions = {}): Promise<BatchResult> {
    return records.length === 0 ? Promise.resolve(EMPTY) : opts.process(records, how);
  }

  /**
   * A write to the session store after the decisions are out. While decisions are made without the
   * store (redis.outage=decide), one that finds it unavailable is put off until it answers.
   */
  async function storeWrite(stage: string, write: () => Promise<void>): Promise<void> {
    try {
      await timeStage(m, stage, write);
    } catch (err) {
      const outage = opts.outage;
      if (!outage || !storeUnavailable(err)) throw err;
      outage.failed();
      if (!outage.degraded()) throw err;
      outage.defer(write);
    }
  }

  const out = (ds: readonly Decision[], published: ReadonlySet<string> | undefined) =>
    ds.filter((d) => (opts.emitAllow || mustEmit(d)) && !published?.has(d.decision_id));

  async function emit(
    records: readonly RawRecord[],
    result: BatchResult,
    onWritten?: () => void,
  ): Promise<void> {
    if (records.length === 0) return;
    const toEmit = out(result.decisions, result.published);
    const shadow = result.shadow ?? [];
    // A retried emit (a follow-up or the settle failed) does not write the decisions again.
    const done = progress.get(result) ?? 0;
    if (done < WRITTEN) {
      await timeStage(m, 'emit', () =>
        opts.sink.write(toEmit, result.deadLetters, out(shadow, result.published), result.evidence ?? []),
      );
      progress.set(result, WRITTEN);
      onWritten?.();
    }
    if (opts.followUp && toEmit.length > 0 && done < FOLLOWED_UP) {
      const followUp = opts.followUp;
      await storeWrite('follow_up', () => followUp(toEmit));
      progress.set(result, FOLLOWED_UP);
    }
    if (result.settle) await storeWrite('settle', result.settle);
    progress.delete(result);
    if (m) {
      const acked = now();
      // The inline API's requests share the engine's handler: counted as their own source.
      m.events.inc({ source: records[0]!.source === INLINE_SOURCE ? 'inline' : opts.source }, records.length);
      m.batchSize.observe(records.length);
      m.decisionsEmitted.inc(toEmit.length);
      m.evidenceRecords.inc(result.evidence?.length ?? 0);
      m.duplicates.inc(result.duplicates);
      for (const d of result.decisions) m.decisions.inc({ decision: d.decision });
      if (result.degraded)
        for (const d of result.decisions) m.degradedDecisions.inc({ decision: d.decision });
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
    toEmit: (result) => out(result.decisions, result.published),
    async handle(records) {
      const result = await process(records);
      await emit(records, result);
      return result;
    },
  };
}
