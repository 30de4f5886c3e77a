import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { DecisionType, RawRecord, SessionStore } from '../contract';
import type { Settings } from '../config/schema';
import { JsonlFileSink } from '../emit/files';
import type { Logger } from '../log';
import type { CompiledPolicy } from '../policy/compile';
import { createBatchHandler } from '../pipeline/handler';
import { buildMemoryStore, buildModel, buildPipeline, buildRedisStore, connectRedis } from './context';

export interface ReplayOptions {
  input: string;
  output: string;
  deadLetter: string;
  /** Use Redis at this URL instead of the in-memory store. */
  redis?: string;
  /** Write evidence records here (JSON Lines). */
  evidence?: string;
  batchSize: number;
  /** Decide with this policy instead of the one the settings name. */
  policy?: CompiledPolicy;
}

export interface ReplaySummary {
  events: number;
  decisions: Record<DecisionType, number>;
  deadLetters: number;
  duplicates: number;
  seconds: number;
  eventsPerSecond: number;
  model: string;
  backend: string;
}

/**
 * `risk-stream replay`: SessionAction JSON Lines in, Decision JSON Lines out (one per valid line,
 * ALLOW included, input order), invalid lines to the dead-letter file with their line number.
 * Exactly the streaming pipeline; only the transport (a file) and the store (memory) differ.
 */
export async function replay(settings: Settings, log: Logger, opts: ReplayOptions): Promise<ReplaySummary> {
  const scorer = await buildModel(settings, log);
  let store: SessionStore;
  let closeRedis = () => undefined as void;
  if (opts.redis) {
    const client = await connectRedis(settings.redis, log, opts.redis);
    store = buildRedisStore(client, settings);
    closeRedis = () => client.disconnect();
  } else {
    // Idle expiry by event time: a recorded day replays in seconds, and sessions must still time
    // out as they did when the events happened.
    store = buildMemoryStore(settings, { eventTime: true });
  }
  const sink = new JsonlFileSink(opts.output, opts.deadLetter, opts.evidence);
  const policy = opts.policy;
  const process_ = buildPipeline({
    settings,
    store,
    model: () => scorer,
    ...(policy ? { policy: () => policy } : {}),
    format: 'json',
    allowJson: true,
  });
  const handler = createBatchHandler({ process: process_, sink, emitAllow: true, source: 'file' });

  const summary: ReplaySummary = {
    events: 0,
    decisions: { ALLOW: 0, STEP_UP: 0, BLOCK_ACTION: 0, TERMINATE: 0 },
    deadLetters: 0,
    duplicates: 0,
    seconds: 0,
    eventsPerSecond: 0,
    model: scorer.version,
    backend: scorer.backend,
  };
  const started = process.hrtime.bigint();
  const flush = async (batch: RawRecord[]) => {
    const result = await handler.handle(batch);
    summary.events += batch.length;
    summary.deadLetters += result.deadLetters.length;
    summary.duplicates += result.duplicates;
    for (const d of result.decisions) summary.decisions[d.decision]++;
  };

  const lines = createInterface({ input: createReadStream(opts.input), crlfDelay: Infinity });
  let batch: RawRecord[] = [];
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    batch.push({
      value: Buffer.from(line, 'utf8'),
      key: null,
      source: opts.input,
      partition: null,
      offset: null,
      line: lineNo,
      receivedAt: Date.now(),
    });
    if (batch.length >= opts.batchSize) {
      await flush(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await flush(batch);
  await sink.close();
  await store.close();
  closeRedis();
  scorer.dispose();
  summary.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  summary.eventsPerSecond = summary.events / Math.max(summary.seconds, 1e-9);
  return summary;
}
